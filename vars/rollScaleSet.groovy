/**
 * pysteps roll: the image (settings.vmss_image) onto the scale set, created or updated in batches checked for health.
 * config: settings (map, docs/steps.md), rollback, run, dryRun, planJson, configFile, resume.
 */
Map call(Map config = [:]) {
    Map options = [rollback: config.rollback ?: false, run: config.run, 'dry-run': config.dryRun ?: false,
                   'plan-json': config.planJson, config: config.configFile, resume: config.resume]
    return pysteps(command: 'roll', options: options, variables: config.settings ?: [:])
}
