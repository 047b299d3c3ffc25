package io.tandem.e2e;

/** Every case of {@link SingleNodeDataplaneIT} again with {@code dataplane.io: io_uring}, through TUN alone ({@code fast_path: off}). */
class SingleNodeIoUringDataplaneIT extends SingleNodeDataplaneIT {
    @Override
    String ioEngine() {
        return "io_uring";
    }

    @Override
    String fastPath() {
        return "off";
    }
}
