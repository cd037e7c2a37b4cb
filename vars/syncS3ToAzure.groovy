/**
 * pysteps sync: copies objects new since the last run (or since a date) from S3 into Azure Blob storage.
 * config: source, destination, awsCredentialsId, storageCredentialsId, since, overlapMinutes, manifest,
 * concurrency, shard ('I/N'), dryRun.
 */
Map call(Map config) {
    List bindings = [[$class: 'AmazonWebServicesCredentialsBinding', credentialsId: config.awsCredentialsId,
                      accessKeyVariable: 'AWS_ACCESS_KEY_ID', secretKeyVariable: 'AWS_SECRET_ACCESS_KEY']]
    if (config.storageCredentialsId) {
        bindings << string(credentialsId: config.storageCredentialsId, variable: 'AZURE_STORAGE_CONNECTION_STRING')
    }
    Map options = ['since-last': !config.since, since: config.since, 'overlap-minutes': config.overlapMinutes,
                   manifest: config.manifest, concurrency: config.concurrency, shard: config.shard,
                   'dry-run': config.dryRun ?: false]
    return withCredentials(bindings) {
        pysteps(command: 'sync', options: options, args: [config.source, config.destination])
    }
}
