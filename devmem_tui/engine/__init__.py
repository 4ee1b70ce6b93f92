"""The pure engine: resource tree, kernel config, policy, virtio-mem. No UI imports."""
