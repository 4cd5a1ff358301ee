# Triton on an NVIDIA GPU: the official image serves the built repository
# (artifacts/model_repository, rendered by `fashion-search export`), mounted at /models.
# The preprocess model (Python backend) imports this project's preprocessing,
# so the package is installed into the image's Python, with PyTorch and
# torchvision for decoding (nvJPEG) and fitting photos on the GPU.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3
FROM ${TRITON_IMAGE}
WORKDIR /opt/fashion-search
COPY pyproject.toml README.md ./
COPY fashion_search fashion_search
COPY training training
COPY export export
COPY vectordb vectordb
COPY demo demo
COPY bench bench
RUN pip install --no-cache-dir "numpy<2" "pillow>=10" "setuptools<81" torch torchvision \
 && pip install --no-cache-dir --no-deps --no-build-isolation .
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--strict-readiness=true"]
