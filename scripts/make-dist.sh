#!/usr/bin/env bash
# Builds a self-contained ddpm4j distribution for Linux x86-64:
#   dist/ddpm4j-<version>/{bin/ddpm, lib/*.jar, runtime/}  and  dist/ddpm4j-<version>.tar.gz
# It needs no Java and no network where it runs: runtime/ is a jlink'd Java
# runtime, the native libraries are inside the ddpm4j jar, built portable
# (x86-64-v2 CPU code with AVX2 kernels picked at run time; CUDA code for
# sm_80 and sm_90 plus PTX). cuDNN 9 and cuBLAS 13 are not bundled (they are
# ~1 GB): bin/ddpm finds them on the system, in NVIDIA pip wheels, or in the
# folders named by --cuda-libs or DDPM_CUDA_LIBS.
#
# Usage: scripts/make-dist.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' pom.xml | head -1)
name=ddpm4j-$version
out=$root/dist/$name

if [ "${1:-}" != "--no-build" ]; then
  # A portable native build, so the jar runs on any x86-64-v2 host CPU.
  mvn -B -q package -DskipTests -Dddpm.portable=ON -Dddpm.cuda.required=ON -pl java -am
fi

jar=$root/java/target/ddpm4j-$version.jar
[ -f "$jar" ] || { echo "make-dist: $jar is missing (build failed?)" >&2; exit 1; }
[ -d "$root/java/target/lib" ] || { echo "make-dist: java/target/lib is missing (dependency copy failed?)" >&2; exit 1; }

rm -rf "$out" "$root/dist/$name.tar.gz"
mkdir -p "$out/bin" "$out/lib"
cp "$jar" "$out/lib/"
cp "$root"/java/target/lib/*.jar "$out/lib/"
# Compile-time-only jars (JUnit is test-scoped and never copied; Gson's
# error-prone annotations are not needed at run time).
rm -f "$out"/lib/junit-*.jar "$out"/lib/opentest4j-*.jar "$out"/lib/apiguardian-*.jar "$out"/lib/error_prone_annotations-*.jar

java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
cp=$(ls "$out"/lib/*.jar | tr '\n' ':')
modules=$("$java_home/bin/jdeps" --multi-release 17 --ignore-missing-deps --print-module-deps \
          --class-path "$cp" "$out/lib/ddpm4j-$version.jar")
# java.sql is only Gson's optional java.sql.Date support (it checks for it at
# run time) and would pull in java.xml: leave it out. jline logs through
# java.logging. ImageIO/Java2D (java.desktop) write the PNGs.
modules=$(echo "$modules,java.logging,java.desktop,jdk.unsupported" | tr ',' '\n' | grep -v '^java.sql$' | sort -u | paste -sd,)
# An uncompressed jimage: the tarball's gzip compresses it better than jlink's
# zip does (28 MiB archive instead of 33), and it loads faster.
"$java_home/bin/jlink" --add-modules "$modules" --output "$out/runtime" \
  --strip-debug --no-header-files --no-man-pages --compress=0

cat > "$out/bin/ddpm" <<'LAUNCH'
#!/usr/bin/env bash
# ddpm4j launcher (self-contained distribution). Extra JVM options: DDPM_JAVA_OPTS.
here=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# --debug also logs the CUDA backend's convolution choices (read from the environment).
for a in "$@"; do [ "$a" = "--debug" ] && export DDPM_CUDA_VERBOSE="${DDPM_CUDA_VERBOSE:-1}"; done
exec "$here/runtime/bin/java" ${DDPM_JAVA_OPTS:--Xmx8g} -Dorg.bytedeco.javacpp.cachedir="${DDPM_CACHE:-$HOME/.cache/ddpm4j}" \
  -cp "$here/lib/*" org.ddpm4j.cli.Main "$@"
LAUNCH
chmod +x "$out/bin/ddpm"
cp "$root/README.md" "$out/" 2>/dev/null || true

tar -C "$root/dist" -czf "$root/dist/$name.tar.gz" "$name"
size=$(du -m "$root/dist/$name.tar.gz" | cut -f1)
echo "dist/$name.tar.gz: ${size} MiB (runtime modules: $modules)"
