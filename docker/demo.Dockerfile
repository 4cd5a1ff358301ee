# The demo (and the CLI): talks to Triton over gRPC and to a Milvus server.
FROM python:3.11-slim
WORKDIR /opt/fashion-search
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e .
ENV FASHION_SEARCH_DEMO_HOST=0.0.0.0 \
    FASHION_SEARCH_HOME=/data \
    FASHION_SEARCH_CACHE_DIR=/data/cache
EXPOSE 7860
CMD ["fashion-search", "demo"]
