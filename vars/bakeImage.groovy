/**
 * pysteps bake: a temporary VM, its data preloaded, captured as an image; exports (vmss_image...) land in env.
 * config: settings (map, docs/steps.md), roll, dryRun, planJson, configFile, keepOnFailure, resume.
 */
Map call(Map config = [:]) {
    Map options = [roll: config.roll ?: false, 'dry-run': config.dryRun ?: false, 'plan-json': config.planJson,
                   config: config.configFile, 'keep-on-failure': config.keepOnFailure ?: false, resume: config.resume]
    return pysteps(command: 'bake', options: options, variables: config.settings ?: [:])
}
