import groovy.transform.Field

@Field static final String LOGIN = '"${PYSTEPS_PYTHON:-python3}" "$PYSTEPS_AZURE_LOGIN"'

/**
 * Runs the body with az logged in, in a private AZURE_CONFIG_DIR that is deleted afterwards.
 * config: credentialsId (an azureServicePrincipal credential; none: the agent's managed identity),
 * identityClientId (a user-assigned identity), cloud, resourceManager (to register a custom cloud).
 */
def call(Map config = [:], Closure body) {
    String folder = "${pwd(tmp: true)}/pysteps/azure-${UUID.randomUUID()}"
    writeFile(file: "${folder}/azure-login.py", text: libraryResource('pysteps/azure-login.py'))
    List environment = ["AZURE_CONFIG_DIR=${folder}/config", "PYSTEPS_AZURE_LOGIN=${folder}/azure-login.py",
                        "PYSTEPS_AZURE_CLOUD=${config.cloud ?: 'AzureCloud'}",
                        "PYSTEPS_AZURE_RESOURCE_MANAGER=${config.resourceManager ?: ''}",
                        "PYSTEPS_AZURE_IDENTITY_CLIENT_ID=${config.identityClientId ?: ''}"]
    List credentials = config.credentialsId ? [azureServicePrincipal(credentialsId: config.credentialsId)] : []
    try {
        return withEnv(environment) {
            withCredentials(credentials) {
                sh(script: LOGIN, label: 'az login')
                body()
            }
        }
    } finally {
        dir(folder) { deleteDir() }
    }
}
