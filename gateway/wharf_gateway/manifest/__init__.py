"""Deploy manifests: validating what a deploy uploads, classes, images and endpoint labels."""
