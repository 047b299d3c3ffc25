package io.tandem.health;

/**
 * One backend's health from its check results: down after {@code fall} failures in a row, up
 * again after {@code rise} successes in a row (keepalived's and HAProxy's rule). A backend
 * starts up, so a box that boots serves at once; a dead one is out after {@code fall} checks.
 */
public final class BackendHealth {
    private final int rise;
    private final int fall;
    private boolean up = true;
    private int streak; // successes while down, failures while up
    private String lastDetail = "not checked yet";
    private long checks;

    public BackendHealth(int rise, int fall) {
        this.rise = rise;
        this.fall = fall;
    }

    /** Records one result; true if the backend changed state (up to down or back). */
    public synchronized boolean record(boolean ok, String detail) {
        checks++;
        lastDetail = detail;
        if (ok == up) {
            streak = 0;
            return false;
        }
        streak++;
        if (streak >= (up ? fall : rise)) {
            up = !up;
            streak = 0;
            return true;
        }
        return false;
    }

    public synchronized boolean up() {
        return up;
    }

    public synchronized String lastDetail() {
        return lastDetail;
    }

    public synchronized long checks() {
        return checks;
    }
}
