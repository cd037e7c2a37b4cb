/**
 * Runs one az command as a pysteps step on the agent; the fields named in exports land in env.
 * config: args (the az arguments), exports (['EXPR|NAME', ...]), variables ([NAME: value] for ${NAME} in args), name.
 */
Map call(Map config) {
    return pysteps(command: 'az', options: [export: config.exports ?: [], name: config.name],
                   args: config.args, variables: config.variables ?: [:])
}
