/**
 * pysteps preload: fills a folder on the agent from S3, Azure Blob or folders, resumably.
 * config: sources (list), destination, concurrency, chunkSize, include, exclude, shard ('I/N').
 */
Map call(Map config) {
    Map options = [concurrency: config.concurrency, 'chunk-size': config.chunkSize, include: config.include ?: [],
                   exclude: config.exclude ?: [], shard: config.shard]
    return pysteps(command: 'preload', options: options, args: [config.sources].flatten() + [config.destination])
}
