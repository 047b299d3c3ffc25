package io.tandem.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * tandemctl's side of the control socket: one JSON request line, one JSON response line
 * (see {@code io.tandem.control.ControlSocketServer}).
 */
final class ControlClient {
    /** tandemd cannot be reached: not running, or not ours to talk to. */
    static final class Unreachable extends IOException {
        Unreachable(String message) {
            super(message);
        }
    }

    /** tandemd answered with an error. */
    static final class Refused extends IOException {
        Refused(String message) {
            super(message);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_RESPONSE = 64 << 20;
    private final Path socket;

    ControlClient(Path socket) {
        this.socket = socket;
    }

    /** Runs a command; returns its result, or throws {@link Refused} with tandemd's error. */
    JsonNode call(String command, boolean force, Map<String, String> args) throws IOException {
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("command", command);
        request.put("force", force);
        request.put("by", System.getProperty("user.name"));
        request.put("args", args);
        JsonNode response = JSON.readTree(exchange(JSON.writeValueAsString(request) + "\n"));
        if (!response.path("ok").asBoolean()) {
            throw new Refused(response.path("error").asText("tandemd gave no reason"));
        }
        return response.path("result");
    }

    private byte[] exchange(String request) throws IOException {
        if (!Files.exists(socket)) {
            throw new Unreachable("tandemd is not running here: no control socket at " + socket
                    + " (start it with 'systemctl start tandemd', or give --socket)");
        }
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer out = ByteBuffer.wrap(request.getBytes(StandardCharsets.UTF_8));
            while (out.hasRemaining()) {
                channel.write(out);
            }
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(64 * 1024);
            while (channel.read(in) >= 0) {
                in.flip();
                while (in.hasRemaining()) {
                    byte b = in.get();
                    if (b == '\n') {
                        return line.toByteArray();
                    }
                    line.write(b);
                }
                in.clear();
                if (line.size() > MAX_RESPONSE) {
                    throw new IOException("tandemd's answer is over " + (MAX_RESPONSE >> 20) + " MB");
                }
            }
            throw new Unreachable("tandemd closed the control socket without an answer");
        } catch (AccessDeniedException e) {
            throw new Unreachable("no permission to use " + socket + ": run tandemctl as root");
        } catch (SocketException e) {
            String why = String.valueOf(e.getMessage());
            throw new Unreachable(why.contains("ermission") ? "no permission to use " + socket + ": run tandemctl as root"
                    : "tandemd is not answering on " + socket + " (" + why + "): is it running?");
        }
    }
}
