# The application image: web (uvicorn), Celery workers and beat all run from it.
# docker-compose.yml shows how the services are started.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them: the runtime set only
# (requirements-dev.txt, the test and lint tools, stays out of the image).
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt

COPY . .

# Runtime state (VAR_DIR) lives in /app/var, usually a volume shared by web and the
# workers (model artifacts are written by the training worker and read by web).
# Static files are collected at build time, outside that volume, so a rebuilt
# image always serves its own static files.
ENV VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

# Production settings use WhiteNoise's manifest storage, which needs collectstatic.
# The SECRET_KEY and ALLOWED_HOSTS here exist only so production settings load for
# this one command; the real ones come from the environment at run time.
RUN DJANGO_ENV=production \
    SECRET_KEY=collectstatic-at-build-time-only-not-a-real-secret \
    ALLOWED_HOSTS=build \
    VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-var

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /app/var \
    && chown app:app /app/var
USER app

EXPOSE 8000
CMD ["python", "-m", "project.serve", "project.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
