# Sourced by the lab scripts: unit_java_opts holds the JVM options tandemd's systemd unit gives it
# (the `Environment=TANDEMD_JAVA_OPTS=` line), so the labs run tandemd as an install does.
unit_java_opts=$(sed -n 's/^Environment=TANDEMD_JAVA_OPTS=//p' packaging/systemd/tandemd.service)
