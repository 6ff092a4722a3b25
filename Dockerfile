FROM python:3.11-slim-bookworm
# gunicorn binds 0.0.0.0:$PORT when no --bind is given; the health check reads PORT too.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/app/var PORT=8000
WORKDIR /app
RUN useradd --create-home --uid 1000 portal
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Static files are collected at build time; whitenoise serves them with DEBUG off.
RUN DEBUG=0 SECRET_KEY=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(50))") \
    ALLOWED_HOSTS=build PASSWORD_RESET_ENABLED=0 FIELD_ENCRYPTION_KEYS=$(python -c "from cryptography.fernet import Fernet;print(Fernet.generate_key().decode())") \
    python manage.py collectstatic --noinput -v0 && mkdir -p /app/var && chown -R portal /app/var
USER portal
EXPOSE 8000
# Threads: a live progress page holds one for up to 25 s (instances/progress_views.py).
CMD ["gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application", "--workers", "3", "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-"]
