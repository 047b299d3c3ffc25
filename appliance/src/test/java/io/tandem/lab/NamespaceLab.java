package io.tandem.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The namespace lab of {@code scripts/lab} for end-to-end tests: made with a prefix of its
 * own, used through {@code ip netns exec}, and removed in {@link #close()} together with
 * every process the test started (by its PID), also when the test fails. Addresses are
 * all in 198.18.0.0/15; nothing is added to the root namespace.
 */
public final class NamespaceLab implements AutoCloseable {
    private final String prefix;
    private final String script;
    private final Path root;
    private final Path logs;
    private final List<Process> processes = new ArrayList<>();

    private NamespaceLab(String prefix, String script, Path root, Path logs) {
        this.prefix = prefix;
        this.script = script;
        this.root = root;
        this.logs = logs;
    }

    /**
     * Builds the lab. End-to-end tests need root (network namespaces, TUN): without it this
     * fails with a message saying so — never a silent skip, in CI or elsewhere.
     */
    public static NamespaceLab up(String name) throws IOException, InterruptedException {
        return up(name, "scripts/lab");
    }

    /** Builds the lab of another script ({@code scripts/lab-pair} for the HA pair). */
    public static NamespaceLab up(String name, String script) throws IOException, InterruptedException {
        if (!"root".equals(System.getProperty("user.name"))) {
            throw new AssertionError("end-to-end tests need root (network namespaces, TUN); run as root, or skip them with -DskipITs");
        }
        Path root = Path.of(System.getProperty("user.dir")).getParent();
        String prefix = name + ProcessHandle.current().pid() % 10000;
        Path logs = Files.createTempDirectory("tandem-" + prefix);
        NamespaceLab lab = new NamespaceLab(prefix, script, root, logs);
        String out = lab.runHost(Duration.ofSeconds(30), root.resolve(script).toString(), "up", prefix);
        if (!out.isEmpty()) {
            System.out.println(out);
        }
        return lab;
    }

    public Path logs() {
        return logs;
    }

    public Path root() {
        return root;
    }

    /**
     * keepalived's tandemd check script, copied into the lab's private directory: keepalived's
     * script security refuses a script on a path others may write, as a clone's may be.
     */
    public Path checkScript() throws IOException {
        Path copy = logs.resolve("tandemd-alive");
        if (!Files.exists(copy)) {
            Files.copy(root.resolve("vrrp-scripts/tandemd-alive"), copy);
            Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return copy;
    }

    /**
     * Where keepalived's check (run as root) notes when the silence of the tandemd with
     * {@code pidFile} began: a file named after that path in root's own directory.
     */
    public static Path downSince(Path pidFile) {
        return Path.of("/run/tandem-check", pidFile.toString().replaceAll("[^A-Za-z0-9._-]", "_") + ".down-since");
    }

    /** Starts a program in namespace {@code ns}; its output goes to {@code logs()/logName}. */
    public Process start(String ns, String logName, String... command) throws IOException {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", prefix + "-" + ns));
        argv.addAll(List.of(command));
        Process process = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(logs.resolve(logName).toFile()).start();
        processes.add(process);
        return process;
    }

    /** Starts {@link LabTraffic} in a namespace with this JVM and class path. */
    public Process traffic(String ns, String logName, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), LabTraffic.class.getName()));
        argv.addAll(List.of(args));
        return start(ns, logName, argv.toArray(String[]::new));
    }

    /** A finished command: its exit code and output (stdout and stderr). */
    public record Outcome(int exit, String output) {
    }

    /** Runs a command in a namespace to completion (bounded); a non-zero exit is returned, not thrown. */
    public Outcome outcome(String ns, Duration timeout, String... command) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", prefix + "-" + ns));
        argv.addAll(List.of(command));
        return exec(timeout, argv.toArray(String[]::new));
    }

    /** Runs a command in a namespace to completion (bounded) and returns its output. */
    public String run(String ns, Duration timeout, String... command) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", prefix + "-" + ns));
        argv.addAll(List.of(command));
        return runHost(timeout, argv.toArray(String[]::new));
    }

    private static final Pattern TX_DROPPED = Pattern.compile("TX:.*\\n\\s*\\d+\\s+\\d+\\s+\\d+\\s+(\\d+)");

    /**
     * The TX dropped count of tandemd's TUN device (tandem0) in {@code ns}, from {@code ip -s link}:
     * packets the kernel dropped on their way to tandemd because a queue was full.
     */
    public long tunTxDropped(String ns) throws IOException, InterruptedException {
        String link = run(ns, Duration.ofSeconds(10), "ip", "-s", "link", "show", "tandem0");
        Matcher m = TX_DROPPED.matcher(link);
        if (!m.find()) {
            throw new AssertionError("no TX counters in: " + link);
        }
        return Long.parseLong(m.group(1));
    }

    private String runHost(Duration timeout, String... command) throws IOException, InterruptedException {
        Outcome o = exec(timeout, command);
        if (o.exit() != 0) {
            throw new AssertionError(String.join(" ", command) + ": exit " + o.exit() + ": " + o.output());
        }
        return o.output();
    }

    private static Outcome exec(Duration timeout, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + ": did not finish within " + timeout);
        }
        return new Outcome(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip());
    }

    public String log(String logName) {
        try {
            Path file = logs.resolve(logName);
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static final Pattern FLOWS = Pattern.compile("(?<![a-z_])flows=(\\d+) ");

    /** The flow count in tandemd's last counters line of {@code logName}, or -1. */
    public int lastFlows(String logName) {
        int flows = -1;
        for (String line : log(logName).lines().toList()) {
            Matcher m = FLOWS.matcher(line);
            if (m.find()) {
                flows = Integer.parseInt(m.group(1));
            }
        }
        return flows;
    }

    /** The last line of {@code logName} containing {@code text}, or "". */
    public String lastLine(String logName, String text) {
        List<String> lines = log(logName).lines().filter(l -> l.contains(text)).toList();
        return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
    }

    /** Waits until {@code logName} contains {@code text}, or fails after {@code timeout} showing the log. */
    public void awaitLog(String logName, String text, Duration timeout) {
        await(() -> log(logName).contains(text), timeout, () -> "'" + text + "' in " + logName + ":\n" + log(logName));
    }

    /** Polls a condition every 20 ms until it holds; fails with {@code what} after {@code timeout}. */
    public static void await(BooleanSupplier condition, Duration timeout, Supplier<String> what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }

    /**
     * Checks that {@code condition} holds throughout {@code window} (polled as {@link #await}
     * polls): what a test asserts when the point is that something does not happen.
     */
    public static void assertHolds(BooleanSupplier condition, Duration window, Supplier<String> what) {
        long end = System.nanoTime() + window.toNanos();
        do {
            if (!condition.getAsBoolean()) {
                throw new AssertionError("no longer true within " + window + ": " + what.get());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        } while (System.nanoTime() < end);
    }

    /** Waits for a process to exit by itself (bounded) and returns its exit code. */
    public static int awaitExit(Process process, Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("process " + process.pid() + " still running after " + timeout);
        }
        return process.exitValue();
    }

    /** Stops every process this lab started (SIGTERM, then SIGKILL after 5 s) and removes the namespaces. */
    @Override
    public void close() throws IOException, InterruptedException {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
        runHost(Duration.ofSeconds(30), root.resolve(script).toString(), "down", prefix);
    }
}
