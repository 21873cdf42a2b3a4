"""Mail adapters (ports.mail.Mailer): SMTP for production, .eml files for development."""
