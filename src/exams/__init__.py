"""exams: an exam and proctoring service for Open edX."""
