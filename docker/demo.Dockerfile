# The demo (and the CLI): talks to Triton over gRPC and to a Milvus server.
FROM python:3.11-slim
WORKDIR /opt/fashion-search
# the package with its plain dependencies only, what the demo imports against Triton and
# Milvus servers: no PyTorch (CUDA wheels), PyTriton or Milvus Lite (the "full" extra);
# the model is built and served elsewhere
COPY . .
RUN pip install --no-cache-dir .
ENV FASHION_SEARCH_DEMO_HOST=0.0.0.0 \
    FASHION_SEARCH_HOME=/data \
    FASHION_SEARCH_CACHE_DIR=/data/cache
EXPOSE 7860
CMD ["fashion-search", "demo"]
