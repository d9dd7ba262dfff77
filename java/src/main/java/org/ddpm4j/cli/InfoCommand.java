package org.ddpm4j.cli;

import java.util.concurrent.Callable;
import org.ddpm4j.api.Ddpm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

@Command(name = "info", mixinStandardHelpOptions = true, usageHelpAutoWidth = true,
        description = "Show the backend --device selects, its threads, the CPU, CUDA devices and versions.")
public final class InfoCommand implements Callable<Integer> {
    private final Io io;

    @Mixin CommonOptions common;

    InfoCommand(Io io) {
        this.io = io;
    }

    @Override
    public Integer call() {
        Ddpm.Environment e = Ddpm.environment(common.compute());
        var out = io.out();
        out.println("ddpm4j " + e.version() + " (native " + e.nativeVersion() + ")");
        out.println("java: " + e.java());
        out.println("cpu: " + e.cpu() + ", " + e.cores() + " cores");
        if (e.cudaProblem() == null) {
            out.println("cuda: " + (e.cudaDevices().isEmpty() ? "usable" : String.join("; ", e.cudaDevices())));
        } else {
            out.println("cuda: not usable (" + e.cudaProblem() + ")");
        }
        out.println("backend: " + e.backend() + " (" + e.device() + ")");
        out.println("threads: " + e.threads());
        return 0;
    }
}
