# Sourced by the lab scripts: builds what they run (tandemd's distribution and the lab's
# traffic programs) when either is missing, from any state of the local Maven repository;
# `./scripts/test` before or after changes nothing here. Sets LAB_CP for io.tandem.lab.LabTraffic.
LAB_CP=lab-tools/target/tandem-lab-tools.jar
if [ ! -x appliance/target/tandem/bin/tandemd ] || [ ! -f "$LAB_CP" ]; then
  echo "$(basename "$0"): building tandemd and the lab tools (once; a few minutes on a fresh clone)"
  mvn -B -q -ntp package -DskipTests -DskipITs -Dcheckstyle.skip -pl appliance,lab-tools -am >/dev/null || {
    echo "$(basename "$0"): the build failed: run 'mvn -B package -DskipTests -pl appliance,lab-tools -am' to see why" >&2
    exit 1
  }
fi
