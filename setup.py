from setuptools import find_packages, setup

requires = [
    "pyramid>=2.0",
    "pyramid_tm>=2.5",
    "waitress>=3.0",  # pserve development.ini
    "gunicorn>=25.1",  # production: gunicorn --paste production.ini (docs/performance.md)
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
    "swagger-ui-py>=25.7",  # Swagger UI 5 (OpenAPI 3.1) assets, served by /api-docs/ (no CDN)
    "prometheus_client>=0.20",  # /metrics, multi-process mode under gunicorn
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
    "jsonschema>=4.18",  # every functional-test response is checked against the OpenAPI description
    "openapi-spec-validator>=0.7",  # the OpenAPI document itself is valid 3.1
    "schemathesis>=4.0",  # the property-based fuzzer driven by the OpenAPI description
    "PyYAML>=6",  # reads the Tutor plugin's rendered compose and Kubernetes files
    "py-spy>=0.3",  # bench/run.py --profile: flame graphs of the server under load
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
