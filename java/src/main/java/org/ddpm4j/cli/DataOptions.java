package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.Locale;
import org.ddpm4j.api.InvalidInputException;
import org.ddpm4j.api.TrainingData;
import org.ddpm4j.data.Resize;
import org.ddpm4j.data.Split;
import picocli.CommandLine.Option;

/** What to train on: CIFAR-10 (found, or downloaded) or a folder of images; optionally one class. */
public final class DataOptions {
    @Option(names = "--data", paramLabel = "cifar10|folder", description = "Data source (default cifar10; folder needs --images).")
    String source;

    @Option(names = "--cifar-dir", paramLabel = "DIR", description = "Folder with the CIFAR-10 binary files (data_batch_1.bin ...). "
            + "Default: $DDPM_CIFAR_DIR, ../shared/data/cifar-10-batches-bin next to the project, or the download cache.")
    String cifarDir;

    @Option(names = "--split", paramLabel = "train|test", converter = Converters.SplitConverter.class, description = "CIFAR-10 split (default train).")
    Split split;

    @Option(names = "--images", paramLabel = "DIR", description = "Image folder: one subfolder per class, PNG or JPEG (implies --data folder).")
    String images;

    @Option(names = "--resize", arity = "0..1", fallbackValue = "crop", paramLabel = "crop|stretch|none",
            converter = Converters.ResizeConverter.class,
            description = "Folder images that are not the model's size: crop (alone, --resize means crop) scales their "
                    + "centred square, stretch the whole picture (aspect not kept), both with Pillow's antialiased "
                    + "bilinear filter; none (the default) refuses them.")
    Resize resize;

    @Option(names = "--class", paramLabel = "NAME", description = "Train on one class only, by name (e.g. ship) or label number.")
    String className;

    @Option(names = "--limit", paramLabel = "N", description = "Use only the first N images (after --class).")
    Integer limit;

    @Option(names = "--download", description = "Download CIFAR-10 (about 170 MB) into the cache when it is not found.")
    boolean download;

    @Option(names = "--data-url", paramLabel = "URL", description = "Where --download gets cifar-10-binary.tar.gz (default: the official URL).")
    String url;

    @Option(names = "--data-md5", paramLabel = "HEX", description = "Expected MD5 of the archive (default: the official one).")
    String md5;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Download cache (default: ~/.cache/ddpm4j).")
    String cacheDir;

    /** Whether a flag chooses the source (--data, --images), not only narrows or moves recorded data. */
    boolean choosesSource() {
        return source != null || images != null;
    }

    /** Whether any flag chooses other images than a base model's data (finetune then trains on them). */
    boolean choosesImages() {
        return choosesSource() || split != null || limit != null || resize != null;
    }

    /**
     * The data the flags name: with {@code sourced}, a source of its own (CIFAR-10 unless --images or --data
     * folder); else the recorded data (a resumed run's, a fine-tune base's) moved by --cifar-dir or --images. The
     * narrowing flags given apply to either.
     */
    TrainingData toData(boolean sourced) {
        TrainingData d;
        if (sourced) {
            String src = source != null ? source.toLowerCase(Locale.ROOT) : images != null ? "folder" : "cifar10";
            switch (src) {
                case "cifar10" -> {
                    if (images != null) throw new InvalidInputException("--images needs --data folder (or no --data)");
                    d = TrainingData.cifar10();
                }
                case "folder" -> {
                    if (images == null) throw new InvalidInputException("--data folder needs --images DIR");
                    d = TrainingData.imageFolder(Path.of(images));
                }
                default -> throw new InvalidInputException("--data must be cifar10 or folder, got '" + source + "'");
            }
        } else {
            d = TrainingData.recorded();
            if (images != null) d = d.imageDir(Path.of(images));
        }
        if (cifarDir != null) d = d.cifarDir(Path.of(cifarDir));
        if (split != null) d = d.split(split);
        if (className != null) d = d.onlyClass(className);
        if (limit != null) d = d.limit(limit);
        if (resize != null) d = d.resize(resize);
        d = d.download(download);
        if (url != null || md5 != null) d = d.downloadFrom(url, md5);
        if (cacheDir != null) d = d.cacheDir(Path.of(cacheDir));
        return d;
    }
}
