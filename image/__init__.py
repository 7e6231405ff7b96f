"""`make image-test`: the Dockerfile built with podman and run as k8s/web/deployment.yaml runs it.

Not part of the product: the build context (.dockerignore) leaves this folder out.
"""
