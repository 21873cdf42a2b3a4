"""JWTs of the Open edX world (jwcrypto): LMS identity tokens in, exam access tokens out."""
