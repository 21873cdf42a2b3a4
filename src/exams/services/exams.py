"""Exam registration (Studio), course configuration and providers."""

from __future__ import annotations

from dataclasses import replace

from exams.domain.errors import NotFound, Rejected
from exams.domain.exams import (CourseConfig, Exam, ExamSpec, Provider, check_course_config, check_provider,
                                plan_registration, rehome_exams)
from exams.ports.repositories import Repositories


class ExamService:
    def __init__(self, repos: Repositories):
        self.repos = repos

    def is_configured(self, course_id: str) -> bool:
        """A course is run by this service when it has a configuration with a provider."""
        config = self.repos.configs.get(course_id)
        return config is not None and config.provider_id is not None

    def active_exams(self, course_id: str) -> list[Exam]:
        return self.repos.exams.active_in_course(course_id)

    def register(self, course_id: str, specs: list[ExamSpec]) -> None:
        """Apply Studio's list of exams for the course (see ``plan_registration``)."""
        config = self.repos.configs.get(course_id)
        plan = plan_registration(course_id, self.repos.exams.active_in_course(course_id), specs,
                                 config.provider_id if config else None)
        # Deactivate first: the database allows one active exam per subsection.
        for exam in plan.deactivated:
            self.repos.exams.save(exam)
        for exam in plan.updated:
            self.repos.exams.save(exam)
        for exam in plan.created:
            self.repos.exams.add(exam)

    def config(self, course_id: str) -> tuple[Provider | None, CourseConfig | None]:
        config = self.repos.configs.get(course_id)
        if config is None or config.provider_id is None:
            return None, config
        return self.repos.providers.get(config.provider_id), config

    def configure(self, course_id: str, provider_name: str | None, escalation_email: str | None) -> None:
        """Set the course's provider and escalation email; a provider change re-homes its proctored exams."""
        check_course_config(provider_name, escalation_email)
        provider = None
        if provider_name is not None:
            provider = self.repos.providers.get_by_name(provider_name)
            if provider is None:
                raise Rejected("Proctoring provider does not exist.", code="unknown_provider")
            if not provider.is_active:
                raise Rejected("Proctoring provider is disabled.", code="unknown_provider")
        new_provider_id = provider.id if provider else None
        current = self.repos.configs.get(course_id)
        self.repos.configs.put(CourseConfig(
            course_id=course_id, provider_id=new_provider_id,
            escalation_email=escalation_email if provider else None,
            allow_opt_out=current.allow_opt_out if current else False))
        if current is not None and current.provider_id != new_provider_id:
            for old, clone in rehome_exams(self.repos.exams.active_in_course(course_id), new_provider_id):
                self.repos.exams.save(old)
                self.repos.exams.add(clone)

    def providers(self, org: str | None = None) -> list[Provider]:
        return self.repos.providers.list(org)

    def all_providers(self) -> list[Provider]:
        """Every provider, disabled ones included (the console)."""
        return self.repos.providers.list(include_disabled=True)

    def add_provider(self, provider: Provider) -> Provider:
        check_provider(provider)
        if self.repos.providers.get_by_name(provider.name) is not None:
            raise Rejected(f"A provider named {provider.name!r} already exists.", code="provider_exists")
        return self.repos.providers.add(provider)

    def _provider(self, name: str) -> Provider:
        provider = self.repos.providers.get_by_name(name)
        if provider is None:
            raise NotFound(f"There is no provider named {name!r}.", code="unknown_provider")
        return provider

    def update_provider(self, name: str, **changes) -> Provider:
        """Change the given fields of the provider (not its name, which course configurations hold)."""
        updated = replace(self._provider(name), **changes)
        check_provider(updated)
        self.repos.providers.save(updated)
        return self.repos.providers.get(updated.id)

    def remove_provider(self, name: str) -> Provider:
        """Delete a provider no course uses (its configuration and exams, with their attempts, would go too)."""
        provider = self._provider(name)
        courses = self.repos.providers.courses_using(provider.id)
        if courses or not self.repos.providers.remove(provider.id):
            shown = ", ".join(courses[:3]) + (f" and {len(courses) - 3} more" if len(courses) > 3 else "")
            raise Rejected(f"Provider {name!r} is in use by {shown or 'a course'}: give those courses another "
                           f"provider first (their exams and attempts would be deleted with it).",
                           code="provider_in_use")
        return provider
