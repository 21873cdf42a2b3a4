"""The Assessment Control Service (ACS): what a proctoring vendor reports about an attempt.

A vendor first obtains a service token for its registration, then posts control messages
(``terminate``, ``flag``) naming an attempt by (learner ``sub``, resource link, attempt number).
Only attempts of exams whose provider uses the calling registration can be named. Results are
recorded and the attempt moves through `AttemptService.move`, so outcomes reach the LMS and the
learner as for any other status change. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exams.domain.attempts import Attempt
from exams.domain.errors import NotFound
from exams.domain.reviews import ControlDecision, ControlRequest, decide_control
from exams.ports.clock import Clock
from exams.ports.lti import NonceStore, ToolRegistration
from exams.ports.lti_store import RegistrationRepository
from exams.ports.proctoring import (BearerProblem, BearerRefused, ProctoringVendor, ServiceToken,
                                    ServiceTokenRefused, TokenError)
from exams.ports.repositories import Repositories
from exams.services.attempts import AttemptService


@dataclass(frozen=True)
class ControlOutcome:
    """What a control message did: the attempt as it now is, and the decision taken."""

    request: ControlRequest
    attempt: Attempt
    decision: ControlDecision

    @property
    def replayed(self) -> bool:
        return self.decision.result is None


class AcsService:
    def __init__(self, repos: Repositories, attempts: AttemptService, vendor: ProctoringVendor,
                 registrations: RegistrationRepository, nonces: NonceStore, clock: Clock, issuer: str):
        self.repos = repos
        self.attempts = attempts
        self.vendor = vendor
        self.registrations = registrations
        self.nonces = nonces
        self.clock = clock
        self.issuer = issuer

    # -- the token endpoint --------------------------------------------------------------------
    def grant_token(self, registration_id: str, form: Mapping[str, Sequence[str]], token_url: str) -> ServiceToken:
        """A service token for the vendor of ``registration_id``; raises `ServiceTokenRefused`."""
        registration = self.registrations.get(registration_id)
        if registration is None:
            raise ServiceTokenRefused(TokenError.INVALID_CLIENT, "No tool is registered at this token endpoint.")
        return self.vendor.grant_service_token(registration, form, token_url, self.nonces)

    # -- the ACS -------------------------------------------------------------------------------
    def registration(self, registration_id: str) -> ToolRegistration:
        registration = self.registrations.get(registration_id)
        if registration is None:
            raise NotFound("No proctoring tool is registered here.", code="registration_not_found")
        return registration

    def authorize(self, registration: ToolRegistration, bearer: str) -> None:
        """Accept ``bearer`` as this registration's ACS credential, or raise `BearerRefused`.

        A genuine token of another registration is told apart (403) from an invalid one (401).
        """
        try:
            self.vendor.authorize_control(registration, bearer)
        except BearerRefused as refused:
            if refused.problem is BearerProblem.INVALID_TOKEN and self._belongs_elsewhere(registration, bearer):
                raise BearerRefused(BearerProblem.OTHER_REGISTRATION,
                                    "The token was issued to another tool registration.") from None
            raise

    def _belongs_elsewhere(self, registration: ToolRegistration, bearer: str) -> bool:
        claimed = self.vendor.claimed_registration(bearer)
        if claimed is None or claimed == registration.registration_id:
            return False
        other = self.registrations.get(claimed)
        if other is None:
            return False
        try:
            self.vendor.authorize_control(other, bearer)
        except BearerRefused:
            return False
        return True

    def control(self, registration: ToolRegistration, request: ControlRequest) -> ControlOutcome:
        """Apply an (authorized, parsed) control message; raises `Rejected` (400) or `NotFound` (404).

        The message is parsed by the HTTP adapter (``parse_control_request`` with ``self.issuer``).
        """
        request = request.received(self.clock.now())
        if self.repos.users.get_by_anonymous_id(request.user_sub) is None:
            raise NotFound("No learner has this user.sub.", code="user_not_found")
        found = self.repos.attempts.find(request.user_sub, request.resource_link_id, request.attempt_number,
                                         registration_id=registration.registration_id)
        attempt = self.repos.attempts.get(found.id, for_update=True) if found else None
        if attempt is None:
            raise NotFound("No attempt of an exam proctored by this tool matches user.sub, resource_link.id "
                           "and attempt_number.", code="attempt_not_found")
        decision = decide_control(request, attempt, self.repos.control_results.for_attempt(attempt.id))
        if decision.result is not None:
            self.repos.control_results.add(decision.result)
        if decision.move_to is not None:
            self.attempts.move(attempt, decision.move_to, actor=None)
        return ControlOutcome(request, attempt, decision)
