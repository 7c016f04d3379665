# One image for the four services; docker-compose picks the service with SERVICE_MODULE.
FROM python:3.11-slim
# the portal's PDFs embed a Chinese font from Debian's packages
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY constraints.txt ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir -c constraints.txt ./shared ./services/enrollment ./services/funding ./services/talent-card ./services/portal
ENV SERVICE_MODULE=funding
CMD ["sh", "-c", "uvicorn --factory ${SERVICE_MODULE}.main:build_app --host 0.0.0.0 --port 8000 --loop uvloop --http httptools"]
