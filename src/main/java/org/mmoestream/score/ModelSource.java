package org.mmoestream.score;

import java.io.Serializable;
import java.util.Properties;
import org.mmoestream.publish.ModelReader;

/**
 * Where the scoring operator reads model versions from: a factory of {@link ModelReader}s,
 * serializable so that each parallel instance of the operator opens its own reader.
 */
@FunctionalInterface
public interface ModelSource extends Serializable {
    /** A new reader positioned at the beginning of the model topic. */
    ModelReader open();

    /** The model topic {@code topic} of the cluster at {@code bootstrap}, with client properties. */
    static ModelSource kafka(String bootstrap, String topic, Properties client) {
        Properties copy = new Properties();
        copy.putAll(client);
        return () -> new ModelReader(bootstrap, topic, null, copy);
    }
}
