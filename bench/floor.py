"""The floor: a bare Pyramid app that answers the learner's hot paths with fixed JSON of the same shape.

bench/run.py serves it with the same server and settings as the service, alternating with it, so
that the service's cost can be given as a ratio to what Pyramid and the server cost by themselves
on this machine at this moment. No authentication, no database, no transaction: just routing, a
view and the JSON renderer.

    gunicorn --paste floor.ini      # [app:main] use = call:floor:main (bench/ on the Python path)
"""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.renderers import JSON

COURSE_ID = "course-v1:bench+B101+2024"
CONTENT_ID = "block-v1:bench+B101+2024+type@sequential+block@hot0000000000000000000000000"

ATTEMPT = {
    "attempt_id": 1, "attempt_status": "started", "course_id": COURSE_ID, "exam_type": "proctored",
    "exam_display_name": "Exam 000000",
    "exam_url_path": f"http://apps.bench/learning/course/{COURSE_ID}/{CONTENT_ID}",
    "time_remaining_seconds": 35000,
}
EXAM = {
    "exam": {
        "id": 1, "exam_name": "Exam 000000", "course_id": COURSE_ID, "content_id": CONTENT_ID,
        "time_limit_mins": 600, "due_date": None, "exam_type": "proctored", "hide_after_due": False,
        "is_active": True, "type": "proctored", "is_proctored": True, "is_practice_exam": False,
        "backend": "Bench Proctoring", "passed_due_date": False, "total_time": 600, "attempt": ATTEMPT,
    }
}


def latest(request):
    return ATTEMPT


def student_exam(request):
    return EXAM


def health(request):
    return {"status": "OK"}


def main(global_config=None, **settings):
    with Configurator(settings=settings) as config:
        config.add_renderer("json", JSON(separators=(",", ":")))
        config.add_route("latest", "/api/v1/exams/attempt/latest")
        config.add_route("student_exam", "/api/v1/student/exam/attempt/course_id/{course_id}/content_id/{content_id}")
        config.add_route("health", "/health/")
        config.add_view(latest, route_name="latest", request_method="GET", renderer="json")
        config.add_view(student_exam, route_name="student_exam", request_method="GET", renderer="json")
        config.add_view(health, route_name="health", request_method="GET", renderer="json")
        return config.make_wsgi_app()
