package io.tandem.ha;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.tandem.lab.NamespaceLab.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

class NotifyFifoTest {
    @TempDir
    Path dir;

    @Test
    void readsStatesAcrossWriterRestarts() throws Exception {
        Path fifo = dir.resolve("run/keepalived.fifo");
        List<VrrpState> seen = new CopyOnWriteArrayList<>();
        new NotifyFifo(fifo, seen::add).start();
        try (OutputStream keepalived = Files.newOutputStream(fifo)) {
            keepalived.write("INSTANCE \"tandem\" BACKUP 100\nGROUP \"x\" MASTER 0\nINSTANCE \"tandem\" MASTER 100\n".getBytes());
        }
        await(() -> seen.size() == 2, Duration.ofSeconds(10), seen::toString);
        try (OutputStream restarted = Files.newOutputStream(fifo)) { // keepalived restarted: a new writer
            restarted.write("INSTANCE \"tandem\" FAULT 0\n".getBytes());
        }
        await(() -> seen.size() == 3, Duration.ofSeconds(10), seen::toString);
        assertEquals(List.of(VrrpState.State.BACKUP, VrrpState.State.MASTER, VrrpState.State.FAULT),
                seen.stream().map(VrrpState::state).toList());
    }

    @Test
    void aReadErrorIsSurvivedAndOnlyTandemsInstanceCounts() throws Exception {
        Path fifo = dir.resolve("run/keepalived.fifo");
        Files.createDirectories(fifo); // in the FIFO's place: every open fails
        List<VrrpState> seen = new CopyOnWriteArrayList<>();
        NotifyFifo reader = new NotifyFifo(fifo, seen::add);
        reader.start();
        await(() -> reader.errors() >= 2, Duration.ofSeconds(10), () -> "errors " + reader.errors());
        Files.delete(fifo);
        await(() -> Files.exists(fifo) && !Files.isDirectory(fifo), Duration.ofSeconds(10), () -> "the FIFO made again");
        try (OutputStream keepalived = Files.newOutputStream(fifo)) {
            keepalived.write("INSTANCE \"VI_other\" MASTER 200\nINSTANCE \"tandem\" BACKUP 100\n".getBytes());
        }
        await(() -> seen.size() == 1 && reader.foreignLines() == 1, Duration.ofSeconds(10), seen::toString);
        assertEquals(List.of(new VrrpState("tandem", VrrpState.State.BACKUP, 100)), seen, "another instance's MASTER is ignored");
    }
}
