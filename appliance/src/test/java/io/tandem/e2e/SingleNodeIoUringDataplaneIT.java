package io.tandem.e2e;

/** Every case of {@link SingleNodeDataplaneIT} again with {@code dataplane.io: io_uring}. */
class SingleNodeIoUringDataplaneIT extends SingleNodeDataplaneIT {
    @Override
    String ioEngine() {
        return "io_uring";
    }
}
