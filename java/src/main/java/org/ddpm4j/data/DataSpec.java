package org.ddpm4j.data;

import java.util.Locale;
import org.ddpm4j.setting.Setting;

/**
 * What a model trains on, as recorded in its checkpoint.
 *
 * @param source "cifar10", "folder" or "memory" (images a Java caller handed over, see org.ddpm4j.api.TrainingData:
 *     only that caller can give them again)
 * @param path the CIFAR-10 folder or the image folder; null for CIFAR-10 found automatically and for images in memory
 * @param split CIFAR-10 split (ignored for folders)
 * @param className the --class filter, or null for every class
 * @param limit keep only the first {@code limit} images (after the class filter); 0 for all
 * @param resize pictures (image folders, pictures in memory) that are not the model's size: refused, cropped or
 *     stretched
 */
public record DataSpec(String source, String path, Split split, String className, int limit, Resize resize) {
    public static final String CIFAR10 = "cifar10";
    public static final String FOLDER = "folder";
    public static final String MEMORY = "memory";

    public DataSpec {
        source = source.toLowerCase(Locale.ROOT);
        if (!source.equals(CIFAR10) && !source.equals(FOLDER) && !source.equals(MEMORY)) {
            throw Setting.DATA.invalid("must be cifar10 or folder, got '" + source + "'");
        }
        if (limit < 0) throw Setting.LIMIT.invalid("must be >= 0, got " + limit);
        if (source.equals(FOLDER) && path == null) throw Setting.DATA.invalid("folder needs ", Setting.IMAGES, " DIR");
        if (resize == null) resize = Resize.NONE;
    }

    public static DataSpec cifar(String dir, Split split) {
        return new DataSpec(CIFAR10, dir, split, null, 0, Resize.NONE);
    }

    public DataSpec withClass(String name) {
        return new DataSpec(source, path, split, name, limit, resize);
    }

    public DataSpec withLimit(int n) {
        return new DataSpec(source, path, split, className, n, resize);
    }

    public DataSpec withPath(String p) {
        return new DataSpec(source, p, split, className, limit, resize);
    }

    /** e.g. "CIFAR-10 train, class ship" or "folder pics/". */
    public String describe() {
        StringBuilder sb = new StringBuilder(source.equals(CIFAR10) ? "CIFAR-10 " + split.label()
                : source.equals(MEMORY) ? "images in memory" : "folder " + path);
        if (className != null) sb.append(", class ").append(className);
        if (limit > 0) sb.append(", first ").append(limit);
        return sb.toString();
    }
}
