"""LTI 1.3 Proctoring Services, platform side: the use cases behind the learner's and instructor's launches.

The flow (docs/lti.md): ``start_proctoring`` moves the attempt to download_software_clicked and sends the
browser to the tool's login; the tool sends it back to ``authenticate`` (OIDC), which answers the signed
LtiStartProctoring id_token; the tool posts LtiStartAssessment to ``start_assessment``, which moves the
attempt to ready_to_start; the learner starts in the Learning MFE; ``end_assessment`` submits and, if the
tool asked for it, launches LtiEndAssessment.

Every launch is bound to the learner twice: to a random, single-use ``lti_message_hint`` stored server-side,
and to the browser that started it (the launch cookie's secret, stored hashed). Attempt statuses change only
through ``AttemptService.move``. Nothing here commits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.errors import Forbidden, IllegalTransition, NotFound, Rejected
from exams.domain.exams import Exam
from exams.domain.users import User
from exams.ports.clock import Clock
from exams.ports.lti import (MESSAGE_END_ASSESSMENT, MESSAGE_RESOURCE_LINK, MESSAGE_START_PROCTORING,
                             EndAssessmentLaunch, InstructorLaunch, LaunchRejected, LtiPlatform, ProctoringLaunch,
                             RejectionCode, StartAssessmentClaims, StartAssessmentExpectation, ToolRegistration)
from exams.ports.lti_store import LaunchState, LtiStore
from exams.ports.repositories import Repositories
from exams.services.attempts import AttemptService
from exams.services.users import is_course_staff, require_course_staff

S = AttemptStatus

# Paths a tool configured against edx-exams (and xblock-lti-consumer 9.14.3) already knows.
AUTH_PATH = "/lti/lti_consumer/v1/launch/"
START_ASSESSMENT_PATH = "/lti/lti_consumer/v1/start_proctoring_assessment"
JWKS_PATH = "/lti/lti_consumer/v1/public_keysets/{registration_id}"
TOKEN_PATH = "/lti/lti_consumer/v1/token/{registration_id}"
ACS_PATH = "/lti/{registration_id}/acs"
ROSTER_PATH = "/lti/exam/{exam_id}/instructor_tool/roster"
BROWSER_LOCK_PATH = "/browser_lock/"

MAX_STATE_LENGTH = 2048
MAX_NONCE_LENGTH = 1024
MAX_HINT_LENGTH = 64
# The tool's answer may match any of this browser's recent launches at that tool (two tabs, two exams).
MAX_PENDING_LAUNCHES = 5
# Mismatches that mean "this message answers another of the browser's launches": try the next one.
_OTHER_LAUNCH = frozenset({RejectionCode.RESOURCE_LINK_MISMATCH, RejectionCode.ATTEMPT_MISMATCH,
                           RejectionCode.SESSION_DATA_MISMATCH})


@dataclass(frozen=True)
class LtiConfig:
    """Where this platform lives and how long launches last (from the settings)."""

    root_url: str  # the LTI issuer (edx-exams LTI_API_BASE), no trailing slash
    learning_mfe_url: str
    launch_ttl: int = 600
    session_ttl: int = 7200
    allow_http_tool_urls: bool = False

    def url(self, path: str, **values: Any) -> str:
        return self.root_url + path.format(**{k: quote(str(v), safe="") for k, v in values.items()})

    def exam_url(self, exam: Exam) -> str:
        return exam.page_url(self.learning_mfe_url)

    def browser_lock_custom_url(self) -> str:
        # No scheme, as edx-exams sends it: Proctorio prepends https:// itself.
        return urlsplit(self.root_url).netloc + BROWSER_LOCK_PATH


@dataclass(frozen=True)
class Browser:
    """The browser a request comes from, as its (verified) launch cookie describes it."""

    user_id: int
    secret: str = field(repr=False)

    @property
    def binding(self) -> str:
        return hashlib.sha256(self.secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuthenticationRequest:
    """The tool's OIDC authentication request (step 3), each parameter as sent or None if absent."""

    client_id: str | None = None
    redirect_uri: str | None = None
    scope: str | None = None
    response_type: str | None = None
    response_mode: str | None = None
    prompt: str | None = None
    login_hint: str | None = None
    lti_message_hint: str | None = None
    state: str | None = None
    nonce: str | None = None


@dataclass(frozen=True)
class FormPost:
    """An auto-submitting form the browser posts to ``action`` (the id_token response)."""

    action: str
    fields: dict[str, str]


def _refuse(detail: str, code: str) -> Rejected:
    return Rejected(detail, code=code)


def _login_required(detail: str = "This launch was started in another browser session. "
                                  "Start proctoring again from the exam page.") -> Forbidden:
    return Forbidden(detail, code="login_required")


class LtiService:
    def __init__(self, repos: Repositories, store: LtiStore, platform: LtiPlatform, attempts: AttemptService,
                 clock: Clock, config: LtiConfig):
        self.repos = repos
        self.store = store
        self.platform = platform
        self.attempts = attempts
        self.clock = clock
        self.config = config

    # -- learner: start ----------------------------------------------------------------------------
    def start_proctoring(self, user: User, attempt_id: int, browser: Browser) -> str:
        """Move the learner's attempt to download_software_clicked; the tool's login initiation URL."""
        attempt, exam = self._own_attempt(user, attempt_id, "when starting an LTI launch")
        registration = self._registration_for(exam)
        try:
            self.attempts.move(attempt, S.DOWNLOAD_SOFTWARE_CLICKED, actor=user)
        except IllegalTransition:
            raise Forbidden(
                f"user_id={user.id} attempted to update attempt_id={attempt.id} in course_id={exam.course_id} "
                f"from status={attempt.status.value} to status={S.DOWNLOAD_SOFTWARE_CLICKED.value} when starting "
                "an LTI launch, but this status transition is illegal.", code="illegal_transition") from None
        self._housekeeping()
        return self._begin(registration, user, browser, MESSAGE_START_PROCTORING, attempt=attempt, exam=exam,
                           session_data=secrets.token_urlsafe(32))

    # -- the tool's OIDC authentication request ------------------------------------------------------
    def authenticate(self, request: AuthenticationRequest, browser: Browser | None,
                     signed_in: User | None) -> FormPost:
        """Check the tool's authentication request against the launch it names; the id_token form.

        Refused (nothing sent to the tool) unless: the client_id is registered; the redirect_uri is one of
        its URIs, exactly; the OIDC parameters are those LTI allows; the hint names an unused, unexpired
        launch of this tool started in this browser by the signed-in user, whom login_hint also names.
        """
        registration = self.store.registrations.get_by_client_id(request.client_id) if request.client_id else None
        if registration is None:
            raise _refuse("Unknown client_id.", "unauthorized_client")
        if not request.redirect_uri or not registration.allows_redirect_uri(request.redirect_uri):
            raise _refuse("The redirect_uri is not registered for this tool.", "invalid_redirect_uri")
        self._check_oidc_parameters(request)
        launch = self.store.launches.get_by_hint(request.lti_message_hint)
        now = self.clock.now()
        if launch is None or launch.registration_id != registration.registration_id:
            raise _refuse("Unknown lti_message_hint.", "invalid_request")
        if launch.used:
            raise Forbidden("This launch was already used. Start again from the exam page.", code="access_denied")
        if launch.hint_expires_at <= now:
            raise _refuse("This launch has expired. Start again from the exam page.", "invalid_request")
        if browser is None:
            raise _login_required("No launch is in progress in this browser. Start again from the exam page.")
        if browser.user_id != launch.user_id or not hmac.compare_digest(browser.binding, launch.browser_binding):
            raise _login_required()
        if signed_in is not None and signed_in.id != launch.user_id:
            raise _login_required("You are signed in as someone else than the user of this launch.")
        user = self.repos.users.get(launch.user_id)
        if user is None or not hmac.compare_digest(request.login_hint.encode(), user.anonymous_user_id.encode()):
            raise _login_required("The login_hint does not name the user of this launch.")
        claims = self._claims(registration, launch, user, request.nonce)
        if not self.store.launches.mark_used(launch.id, now):
            raise Forbidden("This launch was already used. Start again from the exam page.", code="access_denied")
        id_token = self.platform.sign_id_token(registration, claims)
        return FormPost(request.redirect_uri, {"id_token": id_token, "state": request.state})

    def _check_oidc_parameters(self, request: AuthenticationRequest) -> None:
        if any("\x00" in value for value in vars(request).values() if value):
            raise _refuse("The request contains a NUL character.", "invalid_request")
        if request.scope != "openid":
            raise _refuse("scope must be openid.", "invalid_scope")
        if request.response_type != "id_token":
            raise _refuse("response_type must be id_token.", "unsupported_response_type")
        if request.response_mode != "form_post":
            raise _refuse("response_mode must be form_post.", "invalid_request")
        if request.prompt not in (None, "none"):
            raise _refuse("prompt must be none: this platform shows no login page.", "invalid_request")
        if not request.nonce or len(request.nonce) > MAX_NONCE_LENGTH:
            raise _refuse("A nonce of at most 1024 characters is required.", "invalid_request")
        if not request.state or len(request.state) > MAX_STATE_LENGTH:
            raise _refuse("A state of at most 2048 characters is required.", "invalid_request")
        if not request.login_hint or not request.lti_message_hint or len(request.lti_message_hint) > MAX_HINT_LENGTH:
            raise _refuse("login_hint and lti_message_hint are required.", "invalid_request")

    def _claims(self, registration: ToolRegistration, launch: LaunchState, user: User, nonce: str) -> dict:
        exam = self.repos.exams.get(launch.exam_id) if launch.exam_id is not None else None
        if exam is None:
            raise _refuse("The exam of this launch no longer exists.", "invalid_request")
        if launch.message_type == MESSAGE_RESOURCE_LINK:
            if not is_course_staff(self.repos, user, exam.course_id):
                raise Forbidden("You are no longer course staff.", code="access_denied")
            return self.platform.build_resource_link_claims(registration, InstructorLaunch(
                sub=user.anonymous_user_id, nonce=nonce, resource_link_id=exam.resource_id,
                roster_url=self.config.url(ROSTER_PATH, exam_id=exam.id), context_id=exam.course_id,
                context_label=exam.content_id))
        attempt = self.repos.attempts.get(launch.attempt_id) if launch.attempt_id is not None else None
        if attempt is None or attempt.user_id != user.id:
            raise _refuse("The attempt of this launch no longer exists.", "invalid_request")
        if launch.message_type == MESSAGE_END_ASSESSMENT:
            return self.platform.build_end_assessment_claims(registration, EndAssessmentLaunch(
                sub=user.anonymous_user_id, nonce=nonce, resource_link_id=exam.resource_id,
                attempt_number=attempt.attempt_number, context_id=exam.course_id, context_label=exam.content_id,
                return_url=self.config.exam_url(exam)))
        if attempt.status.is_completed:
            raise _refuse("This exam attempt is already over.", "invalid_request")
        return self.platform.build_start_proctoring_claims(registration, ProctoringLaunch(
            sub=user.anonymous_user_id, nonce=nonce, resource_link_id=exam.resource_id,
            attempt_number=attempt.attempt_number, start_assessment_url=self.config.url(START_ASSESSMENT_PATH),
            session_data=launch.session_data, context_id=exam.course_id, context_label=exam.content_id,
            acs_url=self.config.url(ACS_PATH, registration_id=registration.registration_id),
            acs_actions=("terminate",), custom={"custom_url": self.config.browser_lock_custom_url()},
            return_url=self.config.exam_url(exam)))

    # -- the tool's LtiStartAssessment -------------------------------------------------------------------
    def start_assessment(self, token: str | None, browser: Browser | None) -> str:
        """Verify the tool's LtiStartAssessment for a launch of this browser; ready_to_start; the exam URL."""
        if not token:
            raise _refuse("The request has no JWT.", "invalid_request")
        client_id = self.platform.unverified_client_id(token)
        registration = self.store.registrations.get_by_client_id(client_id)
        if registration is None:
            raise _refuse("The message comes from an unknown tool.", "unauthorized_client")
        if browser is None:
            # The launch cookie is the only proof that this browser started the launch (P18).
            raise _login_required("No proctoring launch is in progress in this browser.")
        now = self.clock.now()
        pending = self.store.launches.pending_starts(browser.user_id, registration.registration_id,
                                                     browser.binding, now, limit=MAX_PENDING_LAUNCHES)
        if not pending:
            raise _refuse("No proctoring session is waiting for this message.", "no_pending_launch")
        for index, launch in enumerate(pending):
            attempt = self.repos.attempts.get(launch.attempt_id, for_update=True)
            exam = self.repos.exams.get(attempt.exam_id) if attempt else None
            if attempt is None or exam is None or not launch.session_data:
                continue
            expected = StartAssessmentExpectation(resource_link_id=exam.resource_id,
                                                  attempt_number=attempt.attempt_number,
                                                  session_data=launch.session_data)
            try:
                claims = self.platform.verify_start_assessment(registration, token, expected, self.store.nonces)
            except LaunchRejected as refused:
                if refused.code in _OTHER_LAUNCH and index + 1 < len(pending):
                    continue
                raise
            return self._assessment_started(launch, attempt, exam, claims, now)
        raise _refuse("No proctoring session is waiting for this message.", "no_pending_launch")

    def _assessment_started(self, launch: LaunchState, attempt: Attempt, exam: Exam,
                            claims: StartAssessmentClaims, now) -> str:
        if not self.store.launches.complete(launch.id, claims.end_assessment_return, now):
            raise _refuse("This proctoring session was already started.", "launch_completed")
        learner = self.repos.users.get(attempt.user_id)
        try:
            self.attempts.move(attempt, S.READY_TO_START, actor=learner)
        except IllegalTransition as exc:
            raise _refuse(exc.detail, "illegal_transition") from None
        return self.config.exam_url(exam)

    # -- learner: end ----------------------------------------------------------------------------------
    def end_assessment(self, user: User, attempt_id: int, browser: Browser) -> str:
        """Submit the attempt; the LtiEndAssessment login URL if the tool asked for it, else the exam URL.

        An attempt that is already over keeps its status (a second click, or a review already in).
        """
        attempt, exam = self._own_attempt(user, attempt_id, "when ending an LTI launch")
        if not attempt.status.is_completed:
            try:
                self.attempts.move(attempt, S.SUBMITTED, actor=user)
            except IllegalTransition as exc:
                raise _refuse(exc.detail, "illegal_transition") from None
        started = self.store.launches.last_completed_start(attempt.id)
        if started is None or not started.end_assessment_return:
            return self.config.exam_url(exam)
        registration = self.store.registrations.get(started.registration_id)
        if registration is None:
            return self.config.exam_url(exam)
        return self._begin(registration, user, browser, MESSAGE_END_ASSESSMENT, attempt=attempt, exam=exam)

    # -- instructor ------------------------------------------------------------------------------------
    def instructor_launch(self, user: User, exam_id: int, browser: Browser) -> str:
        """The tool's login initiation URL for the instructor dashboard of an exam (course staff only)."""
        exam = self._exam(exam_id)
        require_course_staff(self.repos, user, exam.course_id)
        registration = self._registration_for(exam)
        return self._begin(registration, user, browser, MESSAGE_RESOURCE_LINK, exam=exam)

    def roster(self, user: User, exam_id: int) -> list[list[str]]:
        """``[anonymous_user_id, username]`` of every learner with an attempt at the exam (course staff only)."""
        exam = self._exam(exam_id)
        require_course_staff(self.repos, user, exam.course_id)
        return [[learner.anonymous_user_id, learner.username]
                for learner in self.repos.attempts.users_with_attempts(exam.id)]

    # -- keys and registrations ---------------------------------------------------------------------
    def jwks(self, registration_id: str) -> dict:
        """The public keyset a tool verifies this registration's id_tokens with."""
        registration = self.store.registrations.get(registration_id)
        if registration is None:
            raise NotFound("Not found.", code="registration_not_found")
        return self.platform.public_jwks([registration])

    def register_tool(self, *, client_id: str, oidc_login_url: str, launch_url: str,
                      redirect_uris: tuple[str, ...] = (), tool_jwks_url: str | None = None,
                      tool_public_key: str | None = None, deployment_id: str = "1") -> ToolRegistration:
        """Store a tool's registration with a new platform signing key of its own (stable kid)."""
        if not client_id or len(client_id) > 255 or client_id != client_id.strip():
            raise Rejected("The client_id must be 1 to 255 characters without surrounding spaces.",
                           code="invalid_registration")
        if not deployment_id or len(deployment_id) > 255:
            raise Rejected("The deployment_id must be 1 to 255 characters.", code="invalid_registration")
        if bool(tool_jwks_url) == bool(tool_public_key):
            raise Rejected("Give the tool's JWKS URL or its public key (one of them).", code="invalid_registration")
        problem = self.platform.tool_key_problem(tool_public_key) if tool_public_key else None
        if problem:
            raise Rejected(problem, code="invalid_tool_key")
        for name, url in (("login URL", oidc_login_url), ("launch URL", launch_url),
                          *(("redirect URI", u) for u in redirect_uris),
                          *((("JWKS URL", tool_jwks_url),) if tool_jwks_url else ())):
            self._check_tool_url(name, url)
        key = self.platform.generate_platform_key()
        return self.store.registrations.add(ToolRegistration(
            registration_id="", client_id=client_id, oidc_login_url=oidc_login_url, launch_url=launch_url,
            platform_private_key=key.private_jwk_json, platform_kid=key.kid, deployment_id=deployment_id,
            redirect_uris=tuple(redirect_uris), tool_jwks_url=tool_jwks_url or None,
            tool_public_key=tool_public_key or None))

    def rotate_platform_key(self, registration_id: str, grace_seconds: int) -> ToolRegistration:
        """Sign with a new key from now on; the old key stays in the JWKS for ``grace_seconds`` (tools cache
        keysets), then it is gone. A key still retiring from an earlier rotation is dropped at once."""
        if not 0 <= grace_seconds <= 90 * 24 * 3600:
            raise Rejected("The grace period must be between 0 and 90 days.", code="invalid_grace_period")
        registration = self.store.registrations.get(registration_id)
        if registration is None:
            raise NotFound("LTI registration not found.", code="registration_not_found")
        key = self.platform.generate_platform_key()
        retiring = json.dumps(self.platform.public_jwk(registration), sort_keys=True) if grace_seconds else None
        rotated = replace(registration, platform_private_key=key.private_jwk_json, platform_kid=key.kid,
                          retiring_public_jwk=retiring,
                          retiring_until=self.clock.now() + timedelta(seconds=grace_seconds) if retiring else None)
        self.store.registrations.save_keys(rotated)
        return rotated

    def retire_platform_key(self, registration_id: str) -> bool:
        """End the grace period now: the previous key leaves the JWKS. False when there was none."""
        registration = self.store.registrations.get(registration_id)
        if registration is None:
            raise NotFound("LTI registration not found.", code="registration_not_found")
        if not registration.retiring_public_jwk:
            return False
        self.store.registrations.save_keys(replace(registration, retiring_public_jwk=None, retiring_until=None))
        return True

    def _check_tool_url(self, name: str, url: str) -> None:
        parts = urlsplit(url or "")
        schemes = ("https", "http") if self.config.allow_http_tool_urls else ("https",)
        if parts.scheme not in schemes or not parts.netloc or parts.fragment or any(c.isspace() for c in url):
            raise Rejected(f"The tool's {name} must be an absolute {' or '.join(schemes)} URL without a fragment "
                           f"(exams.lti.allow_http_tool_urls allows http in development).",
                           code="invalid_registration")

    def registration(self, registration_id: str) -> ToolRegistration | None:
        return self.store.registrations.get(registration_id) if registration_id else None

    def vendor_info(self, registration: ToolRegistration) -> dict[str, Any]:
        """What the vendor must be given to configure its tool for this registration."""
        rid = registration.registration_id
        return {
            "registration_id": rid,
            "issuer": self.platform.issuer,
            "client_id": registration.client_id,
            "deployment_id": registration.deployment_id,
            "oidc_auth_url": self.config.url(AUTH_PATH),
            "jwks_url": self.config.url(JWKS_PATH, registration_id=rid),
            "platform_kid": registration.platform_kid,
            "token_url": self.config.url(TOKEN_PATH, registration_id=rid),
            "acs_url": self.config.url(ACS_PATH, registration_id=rid),
            "start_assessment_url": self.config.url(START_ASSESSMENT_PATH),
            "tool_login_url": registration.oidc_login_url,
            "tool_launch_url": registration.launch_url,
            "tool_redirect_uris": list(registration.allowed_redirect_uris()),
            "tool_keys": registration.tool_jwks_url or "public key on file",
        }

    # -- helpers -----------------------------------------------------------------------------------------
    def _begin(self, registration: ToolRegistration, user: User, browser: Browser, message_type: str, *,
               exam: Exam, attempt: Attempt | None = None, session_data: str | None = None) -> str:
        if browser.user_id != user.id:
            raise ValueError("the launch cookie must belong to the launching user")
        now = self.clock.now()
        hint = secrets.token_urlsafe(32)
        self.store.launches.add(LaunchState(
            id=None, message_hint=hint, message_type=message_type, registration_id=registration.registration_id,
            user_id=user.id, attempt_id=attempt.id if attempt else None, exam_id=exam.id,
            browser_binding=browser.binding, session_data=session_data,
            hint_expires_at=now + timedelta(seconds=self.config.launch_ttl),
            expires_at=now + timedelta(seconds=max(self.config.session_ttl, self.config.launch_ttl)), created=now))
        return self.platform.login_initiation_url(registration, login_hint=user.anonymous_user_id,
                                                  lti_message_hint=hint)

    def _own_attempt(self, user: User, attempt_id: int, when: str) -> tuple[Attempt, Exam]:
        attempt = self.repos.attempts.get(attempt_id, for_update=True)
        if attempt is None:
            raise Rejected(f"Attempt with attempt_id={attempt_id} does not exist.", code="attempt_not_found")
        exam = self.repos.exams.get(attempt.exam_id)
        if attempt.user_id != user.id:
            raise Forbidden(f"user_id={user.id} attempted to update attempt_id={attempt.id} in "
                            f"course_id={exam.course_id} {when} but does not have access to it.")
        return attempt, exam

    def _exam(self, exam_id: int) -> Exam:
        exam = self.repos.exams.get(exam_id)
        if exam is None:
            raise Rejected(f"Exam with exam_id={exam_id} does not exist.", code="exam_not_found")
        return exam

    def _registration_for(self, exam: Exam) -> ToolRegistration:
        provider = self.repos.providers.get(exam.provider_id) if exam.provider_id else None
        registration = self.registration(provider.lti_configuration_id) if provider else None
        if registration is None:
            raise Rejected(f"Exam with exam_id={exam.id} has no LTI proctoring tool configured.",
                           code="no_lti_registration")
        return registration

    def _housekeeping(self) -> None:
        now = self.clock.now()
        self.store.launches.purge_expired(now)
        self.store.nonces.purge_expired(now)
