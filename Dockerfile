FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/app/var
WORKDIR /app
RUN useradd --create-home --uid 1000 portal
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Static files are collected at build time; whitenoise serves them with DEBUG off.
RUN DEBUG=0 SECRET_KEY=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(50))") \
    ALLOWED_HOSTS=build FIELD_ENCRYPTION_KEYS=$(python -c "from cryptography.fernet import Fernet;print(Fernet.generate_key().decode())") \
    python manage.py collectstatic --noinput -v0 && mkdir -p /app/var && chown -R portal /app/var
USER portal
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
