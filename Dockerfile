# One image for the three services; docker-compose picks the service with SERVICE_MODULE.
FROM python:3.11-slim
WORKDIR /app
COPY constraints.txt ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir -c constraints.txt ./shared ./services/enrollment ./services/funding ./services/talent-card
ENV SERVICE_MODULE=funding
CMD ["sh", "-c", "uvicorn --factory ${SERVICE_MODULE}.main:build_app --host 0.0.0.0 --port 8000"]
