"""LTI 1.3 Proctoring Services, platform side, on jwcrypto (the only package that imports jwcrypto)."""

from exams.adapters.lti.forms import render_autosubmit_form
from exams.adapters.lti.keysets import UrllibKeysetFetcher
from exams.adapters.lti.platform import JwcryptoLtiPlatform

__all__ = ["JwcryptoLtiPlatform", "UrllibKeysetFetcher", "render_autosubmit_form"]
