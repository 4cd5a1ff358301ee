# The demo (and the CLI): talks to Triton over gRPC and to a Milvus server.
FROM python:3.11-slim
WORKDIR /opt/fashion-search
# only what the demo imports against Triton and Milvus servers: no PyTorch (CUDA wheels),
# PyTriton or Milvus Lite; the model is built and served elsewhere
COPY requirements-demo.txt ./
RUN pip install --no-cache-dir -r requirements-demo.txt
COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e .
ENV FASHION_SEARCH_DEMO_HOST=0.0.0.0 \
    FASHION_SEARCH_HOME=/data \
    FASHION_SEARCH_CACHE_DIR=/data/cache
EXPOSE 7860
CMD ["fashion-search", "demo"]
