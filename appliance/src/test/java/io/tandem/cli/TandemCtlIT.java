package io.tandem.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** tandemctl through the packaged launcher, in a JVM of its own: what an operator's shell receives. */
class TandemCtlIT {
    private static String run(String... args) throws Exception {
        String[] command = new String[args.length + 1];
        command[0] = "target/tandem/bin/tandemctl";
        System.arraycopy(args, 0, command, 1, args.length);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    @Test
    void keepalivedConfigIsPrintedWhole() throws Exception {
        String out = run("keepalived-config", "src/main/dist/tandem.yaml");
        assertTrue(out.contains("vrrp_instance tandem {") && out.contains("virtual_router_id 51"), out);
        assertTrue(out.strip().endsWith("}"), "flushed to the end:\n" + out);
    }

    @Test
    void routingIsPrinted() throws Exception {
        assertTrue(run("routing", "src/main/dist/tandem.yaml").contains("ip route replace default dev tandem0 table 100"));
    }
}
