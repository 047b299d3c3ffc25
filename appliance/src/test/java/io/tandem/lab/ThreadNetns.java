package io.tandem.lab;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A network namespace the test creates, entered by the calling thread only ({@code setns(2)}
 * changes the namespace of one thread), so in-process work that the kernel resolves in the
 * caller's namespace — interface indexes, BPF test runs, attachments — happens there and never
 * in the root namespace. {@link #close} returns the thread to where it was and deletes the
 * namespace. Use from one thread, in try-with-resources.
 */
public final class ThreadNetns implements AutoCloseable {
    private static final int O_RDONLY = 0;
    private static final int CLONE_NEWNET = 0x40000000;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final MethodHandle OPEN = LINKER.downcallHandle(LIBC.find("open").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle SETNS = LINKER.downcallHandle(LIBC.find("setns").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = LINKER.downcallHandle(LIBC.find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private final String name;
    private final int home;
    private final Thread thread = Thread.currentThread();

    private ThreadNetns(String name, int home) {
        this.name = name;
        this.home = home;
    }

    /** Creates namespace {@code prefix + pid} (loopback up) and moves the calling thread into it. */
    public static ThreadNetns enter(String prefix) throws IOException, InterruptedException {
        if (!"root".equals(System.getProperty("user.name"))) {
            throw new AssertionError("this test needs root (network namespaces, BPF); run as root, or skip it with -DskipITs");
        }
        String name = prefix + ProcessHandle.current().pid() % 10000;
        run("ip", "netns", "del", name).ignoreFailure();
        run("ip", "netns", "add", name).check();
        run("ip", "-n", name, "link", "set", "lo", "up").check();
        int home = open("/proc/thread-self/ns/net");
        int target = open("/var/run/netns/" + name);
        try {
            if (setns(target) != 0) {
                throw new IOException("setns into " + name + " failed");
            }
        } finally {
            close(target);
        }
        return new ThreadNetns(name, home);
    }

    public String name() {
        return name;
    }

    /** Runs {@code ip -n NAME ARGS...} (the namespace's own commands, from outside), failing on error; its output. */
    public String ip(String... args) throws IOException, InterruptedException {
        String[] command = new String[args.length + 3];
        command[0] = "ip";
        command[1] = "-n";
        command[2] = name;
        System.arraycopy(args, 0, command, 3, args.length);
        return run(command).check();
    }

    /** The index of interface {@code ifname} in the namespace. */
    public int ifindex(String ifname) throws IOException, InterruptedException {
        String line = ip("-o", "link", "show", "dev", ifname);
        return Integer.parseInt(line.substring(0, line.indexOf(':')).strip());
    }

    @Override
    public void close() throws IOException, InterruptedException {
        if (Thread.currentThread() != thread) {
            throw new IllegalStateException("leave the namespace from the thread that entered it");
        }
        try {
            if (setns(home) != 0) {
                throw new IOException("setns back home failed");
            }
        } finally {
            close(home);
            run("ip", "netns", "del", name).ignoreFailure();
        }
    }

    private record Result(int exit, String output, List<String> command) {
        String check() throws IOException {
            if (exit != 0) {
                throw new IOException(String.join(" ", command) + " failed (" + exit + "): " + output);
            }
            return output;
        }

        void ignoreFailure() {
        }
    }

    private static Result run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!p.waitFor(Duration.ofSeconds(20).toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " did not end in 20 s");
        }
        return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes()).strip(), List.of(command));
    }

    private static int open(String path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(arena.allocateFrom(path), O_RDONLY);
            if (fd < 0) {
                throw new IOException("cannot open " + path);
            }
            return fd;
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static int setns(int fd) {
        try {
            return (int) SETNS.invokeExact(fd, CLONE_NEWNET);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void close(int fd) {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
