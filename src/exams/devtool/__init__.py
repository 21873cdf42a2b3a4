"""A development LTI 1.3 proctoring tool, so that the proctored flow runs on one machine without a vendor.

    exams -c development.ini devtool      # http://localhost:18741, registered as the provider "devtool"

Off unless ``exams.demo.enabled`` (development.ini); see README "Try the proctored flow locally".
"""

from .registration import (CLIENT_ID, DEFAULT_URL, PROVIDER_NAME, DevtoolError, ensure_registered, make_app,
                           serve)
from .tool import REPORTS, DevTool, DevtoolConfig

__all__ = ["CLIENT_ID", "DEFAULT_URL", "PROVIDER_NAME", "REPORTS", "DevTool", "DevtoolConfig", "DevtoolError",
           "ensure_registered", "make_app", "serve"]
