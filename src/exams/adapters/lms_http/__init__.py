"""edx-proctoring's REST API in the LMS over HTTP (urllib), with an OAuth2 client-credentials JWT."""

from .client import LmsLegacyProctoring

__all__ = ["LmsLegacyProctoring"]
