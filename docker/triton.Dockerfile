# Triton on an NVIDIA GPU: the official image serves the built repository
# (artifacts/model_repository, rendered by `fashion-search export`), mounted at /models.
# The preprocess model (Python backend) imports this project's preprocessing,
# so the package is installed into the image's Python, with PyTorch and
# torchvision for decoding (nvJPEG) and fitting photos on the GPU, and simplejpeg
# (the contract's JPEG decoder, for the photos nvJPEG does not take): the versions
# pyproject.toml pins (the preprocessing parity was measured with them), whose
# PyPI wheels are CUDA 13 builds, so the base image is a CUDA 13 release (25.10:
# CUDA 13.0, NVIDIA driver 575 or later).
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:25.10-py3
FROM ${TRITON_IMAGE}
ENV PIP_BREAK_SYSTEM_PACKAGES=1
WORKDIR /opt/fashion-search
# the whole checkout (.dockerignore keeps data and environments out), so every component
# folder is in the package
COPY . .
RUN pip install --no-cache-dir $(python3 docker/pins.py numpy pillow setuptools torch torchvision simplejpeg) \
 && pip install --no-cache-dir --no-deps --no-build-isolation .
EXPOSE 8000 8001 8002
# A batch of 256 photos' pixels (well over 64 MB) passes from the preprocess model to the
# embedder through Triton's CUDA memory pool: 1 GB on GPU 0 (the default is 64 MB).
# /garments: the garment finder's (`fashion-search export --garments`; empty: none trained).
CMD ["tritonserver", "--model-repository=/models", "--model-repository=/garments", \
     "--strict-readiness=true", \
     "--cuda-memory-pool-byte-size=0:1073741824"]
