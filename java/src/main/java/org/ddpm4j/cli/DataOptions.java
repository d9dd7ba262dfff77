package org.ddpm4j.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.data.CifarDownloader;
import org.ddpm4j.data.CifarLocator;
import org.ddpm4j.data.DataSpec;
import org.ddpm4j.data.Split;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** What to train on: CIFAR-10 (found, or downloaded) or a folder of images; optionally one class. */
public final class DataOptions {
    @Option(names = "--data", paramLabel = "cifar10|folder", description = "Data source (default cifar10; folder needs --images).")
    String source;

    @Option(names = "--cifar-dir", paramLabel = "DIR", description = "Folder with the CIFAR-10 binary files (data_batch_1.bin ...). "
            + "Default: $DDPM_CIFAR_DIR, ../shared/data/cifar-10-batches-bin next to the project, or the download cache.")
    String cifarDir;

    @Option(names = "--split", paramLabel = "train|test", converter = SplitConverter.class, description = "CIFAR-10 split (default train).")
    Split split;

    @Option(names = "--images", paramLabel = "DIR", description = "Image folder: one subfolder per class, PNG or JPEG (implies --data folder).")
    String images;

    @Option(names = "--resize", description = "Scale folder images that are not the model's size (default: reject them).")
    Boolean resize;

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

    DataSpec spec() {
        String src = source != null ? source : images != null ? DataSpec.FOLDER : DataSpec.CIFAR10;
        String path = src.equalsIgnoreCase(DataSpec.FOLDER) ? images : cifarDir;
        if (src.equalsIgnoreCase(DataSpec.CIFAR10) && images != null) {
            throw new IllegalArgumentException("--images needs --data folder (or no --data)");
        }
        return new DataSpec(src, path, split != null ? split : Split.TRAIN, className, limit != null ? limit : 0,
                resize != null && resize);
    }

    /** A recorded spec with this command line's overrides of where the data lives. */
    DataSpec relocate(DataSpec recorded) {
        DataSpec r = recorded;
        if (recorded.source().equals(DataSpec.CIFAR10) && cifarDir != null) r = r.withPath(cifarDir);
        if (recorded.source().equals(DataSpec.FOLDER) && images != null) r = r.withPath(images);
        return r;
    }

    CifarLocator locator() {
        return new CifarLocator(download, url != null ? url : CifarDownloader.DEFAULT_URL,
                md5 != null ? md5 : CifarDownloader.OFFICIAL_MD5,
                cacheDir != null ? Path.of(cacheDir) : CifarDownloader.defaultCacheDir());
    }

    /** Data flags (see {@link #givenMath}) whose values differ from a run's recorded data. */
    List<String> changedFrom(DataSpec r) {
        List<String> out = new ArrayList<>();
        if (source != null && !source.equalsIgnoreCase(r.source())) out.add(Changes.of("--data", source, r.source()));
        if (split != null && split != r.split()) out.add(Changes.of("--split", split.label(), r.split().label()));
        Changes.add(out, "--resize", resize, r.resize());
        if (className != null && (r.className() == null || !className.equalsIgnoreCase(r.className()))) {
            out.add(Changes.of("--class", className, r.className() == null ? "every class" : r.className()));
        }
        if (limit != null && limit != r.limit()) out.add(Changes.of("--limit", limit, r.limit() == 0 ? "no limit" : r.limit()));
        return out;
    }

    /** Flags that choose different images (not allowed when resuming). */
    List<String> givenMath() {
        List<String> g = new ArrayList<>();
        if (source != null) g.add("--data");
        if (split != null) g.add("--split");
        if (resize != null) g.add("--resize");
        if (className != null) g.add("--class");
        if (limit != null) g.add("--limit");
        return g;
    }

    /** picocli converter for --split. */
    public static final class SplitConverter implements ITypeConverter<Split> {
        @Override
        public Split convert(String value) {
            try {
                return Split.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
