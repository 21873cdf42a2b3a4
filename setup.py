from setuptools import find_packages, setup

requires = [
    "pyramid>=2.0",
    "pyramid_tm>=2.5",
    "waitress>=3.0",
    "plaster_pastedeploy",
    "SQLAlchemy>=2.0",
    "zope.sqlalchemy>=3.0",
    "transaction",
    "alembic>=1.13",
    "colander>=2.0",
    "jwcrypto>=1.5",
    "dependency-injector>=4.41",
    "psycopg[binary]>=3.1",
    "redis>=5",
    "fastavro>=1.9",
    "pyramid_jinja2>=2.10",  # the operators' console templates (autoescaped)
]

tests_require = [
    "WebTest>=3.0",
    "pytest>=8",
    "pytest-xdist",
    "hypothesis>=6",
    "import-linter>=2.0",
    "selenium>=4.20",  # drives Debian's chromium + chromedriver in the end-to-end tests
    "pylti1p3==2.0.0",  # a real LTI 1.3 tool library: its ServiceConnector calls our token endpoint and ACS
    "aiosmtpd>=1.4",  # a real SMTP server on loopback for the email tests
    "confluent-kafka[schemaregistry]>=2.4",  # the Kafka event-bus tests (librdkafka's mock cluster)
]

# exams.event_bus.backend = kafka: the producer and the schema registry client edx-event-bus-kafka uses.
kafka_require = ["confluent-kafka[schemaregistry]>=2.4"]

setup(
    name="exams",
    version="0.1.0",
    description="Exam and proctoring service for Open edX (drop-in replacement for edx-exams)",
    package_dir={"": "src"},
    packages=find_packages("src"),
    include_package_data=True,
    package_data={"exams": ["adapters/sql/migrations/*.ini", "adapters/sql/migrations/*.mako",
                             "adapters/http/templates/*", "adapters/http/static/*",
                             "adapters/http/console/templates/*", "adapters/http/console/static/*"]},
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=requires,
    extras_require={"testing": tests_require, "kafka": kafka_require},
    entry_points={
        "paste.app_factory": ["main = exams.app:main"],
        "console_scripts": ["exams = exams.cli:main"],
    },
)
