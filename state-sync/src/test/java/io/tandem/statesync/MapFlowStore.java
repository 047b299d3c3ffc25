package io.tandem.statesync;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/** A FlowStore over a map, with the version rule and digest upkeep the appliance's table has. */
final class MapFlowStore implements FlowStore {
    record Key(FlowRecord.Key key) {
        static Key of(FlowRecord r) {
            return new Key(r.key());
        }
    }

    final Map<Key, FlowRecord> flows = new ConcurrentHashMap<>();
    private final FlowDigest digest = new FlowDigest();

    /** A local change (as the data plane makes): stored, and the digest kept. */
    synchronized void put(FlowRecord record) {
        FlowRecord old = flows.put(Key.of(record), record);
        if (old != null) {
            digest.toggle(old);
        }
        digest.toggle(record);
    }

    @Override
    public synchronized Applied apply(FlowRecord record) {
        FlowRecord held = flows.get(Key.of(record));
        if (held != null && held.version() > record.version()) {
            return record.removed() || held.mappingHash() == record.mappingHash() ? Applied.TAKEN : Applied.OLDER_THAN_OTHER_MAPPING;
        }
        if (record.removed()) {
            if (held != null) {
                flows.remove(Key.of(record));
                digest.toggle(held);
            }
            return Applied.TAKEN;
        }
        put(record);
        return held == null ? Applied.INSERTED : Applied.TAKEN;
    }

    @Override
    public synchronized void replace(FlowRecord record) {
        removeLocal(record);
        put(record);
    }

    @Override
    public synchronized void removeLocal(FlowRecord record) {
        FlowRecord held = flows.remove(Key.of(record));
        if (held != null) {
            digest.toggle(held);
        }
    }

    @Override
    public void forEach(Consumer<FlowRecord> visitor) {
        List.copyOf(flows.values()).forEach(visitor);
    }

    @Override
    public FlowDigest digest() {
        return digest;
    }
}
