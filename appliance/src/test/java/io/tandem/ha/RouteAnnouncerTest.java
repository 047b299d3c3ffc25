package io.tandem.ha;

import io.tandem.config.IpAddress;
import io.tandem.os.CommandRunner;
import io.tandem.role.Role;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class RouteAnnouncerTest {
    /** Records the commands instead of running them. */
    private static final class Recorder extends CommandRunner {
        final List<String> commands = new ArrayList<>();

        @Override
        public Result run(List<String> command) {
            commands.add(String.join(" ", command));
            return new Result(0, "");
        }
    }

    private final Recorder ip = new Recorder();
    private RouteAnnouncer.Addresses addresses = new RouteAnnouncer.Addresses(
            List.of(IpAddress.of("198.18.10.100")), List.of(IpAddress.of("198.19.10.100")));
    private final RouteAnnouncer announcer = new RouteAnnouncer("tandem0", 101, () -> addresses, ip);

    @Test
    void eachRoleSaysWhatToAnnounceThroughTheRoutesProtocolNumber() throws Exception {
        announcer.apply(Role.SYNCING);
        assertEquals(List.of(), ip.commands, "nothing announced while resyncing");
        announcer.apply(Role.STANDBY);
        assertEquals(List.of(
                "ip route replace 198.18.10.100/32 dev tandem0 table 101 proto 201",
                "ip route replace 198.19.10.100/32 dev tandem0 table 101 proto 203"), ip.commands);
        ip.commands.clear();
        announcer.apply(Role.ACTIVE);
        assertEquals(List.of(
                "ip route replace 198.18.10.100/32 dev tandem0 table 101 proto 200",
                "ip route replace 198.19.10.100/32 dev tandem0 table 101 proto 202"), ip.commands, "replaced in place: no withdrawal between");
        ip.commands.clear();
        announcer.apply(Role.ACTIVE);
        assertEquals(List.of(), ip.commands, "nothing changed, nothing run");
        announcer.apply(Role.FAULT);
        assertEquals(List.of(
                "ip route del 198.18.10.100/32 table 101",
                "ip route del 198.19.10.100/32 table 101"), ip.commands);
        assertEquals(Role.FAULT, announcer.announced());
    }

    @Test
    void aReloadThatDropsAVipWithdrawsItAndAnnouncesTheNewOne() throws Exception {
        announcer.apply(Role.ACTIVE);
        ip.commands.clear();
        addresses = new RouteAnnouncer.Addresses(List.of(IpAddress.of("198.18.10.101")), List.of(IpAddress.of("198.19.10.100")));
        announcer.apply(Role.ACTIVE);
        assertEquals(List.of(
                "ip route replace 198.18.10.101/32 dev tandem0 table 101 proto 200",
                "ip route replace 198.19.10.100/32 dev tandem0 table 101 proto 202",
                "ip route del 198.18.10.100/32 table 101"), ip.commands);
    }
}
