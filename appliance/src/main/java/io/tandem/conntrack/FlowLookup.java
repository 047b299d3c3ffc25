package io.tandem.conntrack;

/**
 * The result of a {@link FlowTable#lookup}: which flow, which direction the packet travels,
 * and the record's fields copied out consistently. Reused per event loop.
 */
public final class FlowLookup {
    int flowId;
    int generation;
    FlowDirection direction;
    FlowState state;
    boolean finFromReply;
    boolean resetPending;
    int protocol;
    int clientAddress;
    int clientPort;
    int vipAddress;
    int vipPort;
    int backendAddress;
    int backendPort;
    int snatAddress;
    int snatPort;

    public int flowId() {
        return flowId;
    }

    public int generation() {
        return generation;
    }

    public FlowDirection direction() {
        return direction;
    }

    /** Its backend failed and its service resets such flows: answer the client with a RST. */
    public boolean resetPending() {
        return resetPending;
    }

    public FlowState state() {
        return state;
    }

    public int protocol() {
        return protocol;
    }

    public int clientAddress() {
        return clientAddress;
    }

    public int clientPort() {
        return clientPort;
    }

    public int vipAddress() {
        return vipAddress;
    }

    public int vipPort() {
        return vipPort;
    }

    public int backendAddress() {
        return backendAddress;
    }

    public int backendPort() {
        return backendPort;
    }

    public int snatAddress() {
        return snatAddress;
    }

    public int snatPort() {
        return snatPort;
    }
}
