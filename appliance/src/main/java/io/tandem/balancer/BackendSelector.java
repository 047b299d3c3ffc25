package io.tandem.balancer;

/** Picks a backend for a new flow: an index into the service's backends, or -1 if none. */
public interface BackendSelector {
    int select(long flowHash);
}
