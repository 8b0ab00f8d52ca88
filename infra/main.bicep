// Company Activity Pipeline: one environment in one resource group. Usage API -> Function App ->
// bronze (Blob) -> Data Factory -> Azure SQL (fact_daily_company_activity). The runbook is
// docs/deploy.md; infra/deploy.sh runs it.
targetScope = 'resourceGroup'

@description('Required. Short environment name such as dev or prod; with the subscription and region it seeds every resource name.')
@minLength(2)
@maxLength(12)
param environmentName string

@description('Optional. Azure region of every resource (one that offers Flex Consumption); defaults to the resource group\'s region.')
param location string = resourceGroup().location

@description('Required. Base URL of the product usage API, https (the USAGE_API_BASE_URL app setting; the API key travels with every request).')
param usageApiBaseUrl string

@description('Required. Login name of the SQL server\'s Microsoft Entra administrator (a user principal name, group or app display name).')
param sqlAdminLogin string

@description('Required. The SQL server\'s Microsoft Entra administrator as its sid: the object id of a user or group, the application (client) id of an application.')
param sqlAdminObjectId string

@description('Optional. Principal type of the SQL administrator: User, Group or Application.')
@allowed(['User', 'Group', 'Application'])
param sqlAdminPrincipalType string = 'User'

@description('Optional. Whether the SQL server exists already (infra/deploy.sh sets SQL_SERVER_EXISTS): Entra-only authentication goes into the server\'s properties only when it is created.')
param sqlServerExists bool = false

@description('Optional. SQL firewall rules {name, startIpAddress, endIpAddress}, e.g. the deployer\'s public address for sqlcmd (deploy.sh removes it again on exit); never 0.0.0.0-255.255.255.255.')
param sqlFirewallRules array = []

@description('Optional. IPv4 ranges {startIpAddress, endIpAddress} of Data Factory\'s Azure integration runtime in this region (service tag DataFactory.<region>; deploy.sh reads them with az network list-service-tags): the SQL firewall admits the factory\'s copies through them.')
param sqlDataFactoryIpRanges array = []

@description('Optional. Add the 0.0.0.0 rule that admits every Azure service of every tenant. Default false: sqlDataFactoryIpRanges admits Data Factory alone; true only as a documented fallback (docs/security.md).')
param sqlAllowAzureServices bool = false

@description('Optional. Public network access of the key vault; Disabled needs private endpoints, which this bundle does not deploy.')
@allowed(['Enabled', 'Disabled'])
param keyVaultPublicNetworkAccess string = 'Enabled'

@description('Required. First day (YYYY-MM-DD) the daily Data Factory trigger loads; it cannot move once the trigger has run. Older days are loaded by backfill.')
@minLength(10)
@maxLength(10)
param pipelineStartDate string

@description('Optional. NCRONTAB schedule of the daily ingestion timer (INGEST_SCHEDULE).')
param ingestSchedule string = '0 0 1 * * *'

@description('Optional. IANA time zone that defines yesterday for the timer (INGEST_TIMEZONE).')
param ingestTimezone string = 'UTC'

@description('Optional. Records requested per usage API page, 1..10000 (USAGE_API_PAGE_SIZE).')
@minValue(1)
@maxValue(10000)
param usageApiPageSize int = 1000

@description('Optional. Timeout of every usage API request in seconds, a decimal number (USAGE_API_TIMEOUT_S).')
param usageApiTimeoutSeconds string = '30'

@description('Optional. Largest number of days one backfill request may span (BACKFILL_MAX_DAYS).')
@minValue(1)
@maxValue(3660)
param backfillMaxDays int = 400

@description('Optional. Whether POST /api/backfill also starts PL_backfill_company_activity (BACKFILL_LOAD_ENABLED).')
@allowed(['true', 'false'])
param backfillLoadEnabled string = 'true'

@description('Optional. Largest rejected share of a day\'s records that still commits, 0..1 (REJECT_THRESHOLD).')
param rejectThreshold string = '0.01'

@description('Optional. Redundancy of the storage account (bronze is the system of record: prefer Standard_ZRS or Standard_GZRS in prod).')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSkuName string = 'Standard_LRS'

@description('Required. E-mail addresses that receive the backstop alerts (no successful daily run in 26 h, a failed pipeline run, a failed ingestion Function).')
@minLength(1)
param alertEmailAddresses array

@description('Optional. Webhook that also receives the backstop alerts (common alert schema), as a secure webhook: the action group authenticates with a Microsoft Entra token, so the URL carries no secret (it is readable with Reader). Empty for none.')
param alertWebhookUrl string = ''

@description('Optional. Object id of the Entra application that protects alertWebhookUrl (secure webhook); required with a webhook.')
param alertWebhookAppObjectId string = ''

@description('Optional. Who delivers the nightly CRM export into the crm container, each as \'<principal type>:<object id>\' with type User, Group or ServicePrincipal (docs/crm.md): Storage Blob Data Contributor on that container only.')
param crmWriterPrincipals array = []

@description('Optional. Who replays the transformation from bronze and crm (company-activity bronze/crm download), each as \'<principal type>:<object id>\': Storage Blob Data Reader on those two containers only.')
param replayReaderPrincipals array = []

@description('Required. Application (client) id of the Entra app registration of the HTTP API (infra/entra/api-app-roles.json): the audience of the tokens the endpoints accept.')
@minLength(36)
@maxLength(36)
param apiClientId string

@description('Required. Application (client) id of the dashboard\'s Entra app registration (docs/deploy.md, "The dashboard").')
@minLength(36)
@maxLength(36)
param dashboardAuthClientId string

@description('Required. Object ids of the Entra groups whose members may open the dashboard (at least one group or user).')
param dashboardAllowedGroupIds array

@description('Optional. Object ids of Entra users who may open the dashboard besides the groups\' members.')
param dashboardAllowedUserIds array = []

@description('Optional. Tags applied to every resource.')
param tags object = {}

var token = uniqueString(subscription().id, environmentName, location)
var names = {
  workspace: 'log${token}'
  appInsights: 'appi${token}'
  storage: 'st${token}'
  keyVault: 'kv${token}'
  plan: 'plan${token}'
  functionApp: 'func${token}'
  sqlServer: 'sql${token}'
  dataFactory: 'adf${token}'
  actionGroup: 'ag${token}'
  dashboardSqlReader: 'iddb${token}'
  dashboardSignIn: 'idsi${token}'
}
var sqlDatabaseName = 'company_activity'
var bronzeContainerName = 'bronze'
var crmContainerName = 'crm'
var deploymentContainerName = 'app-package'
var backfillQueueName = 'usage-backfill'
var usageApiKeySecretName = 'usage-api-key'
var slackWebhookSecretName = 'slack-webhook-url'
var allTags = union(tags, { environment: environmentName, application: 'company-activity-pipeline' })

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    workspaceName: names.workspace
    appInsightsName: names.appInsights
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    dataContainerNames: [
      bronzeContainerName
      crmContainerName
    ]
    deploymentContainerName: deploymentContainerName
    backfillQueueName: backfillQueueName
    workspaceId: monitoring.outputs.workspaceId
    skuName: storageSkuName
    tags: allTags
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    name: names.keyVault
    location: location
    workspaceId: monitoring.outputs.workspaceId
    publicNetworkAccess: keyVaultPublicNetworkAccess
    tags: allTags
  }
}

// Data Factory's integration runtime ranges as SQL firewall rules (instead of the all-Azure 0.0.0.0 rule).
var dataFactoryFirewallRules = [for (range, i) in sqlDataFactoryIpRanges: {
  name: 'data-factory-${i}'
  startIpAddress: range.startIpAddress
  endIpAddress: range.endIpAddress
}]

module sql 'modules/sql.bicep' = {
  name: 'sql'
  params: {
    serverName: names.sqlServer
    databaseName: sqlDatabaseName
    location: location
    adminLogin: sqlAdminLogin
    adminObjectId: sqlAdminObjectId
    adminPrincipalType: sqlAdminPrincipalType
    serverExists: sqlServerExists
    firewallRules: concat(sqlFirewallRules, dataFactoryFirewallRules)
    allowAzureServices: sqlAllowAzureServices
    workspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

module dashboardIdentities 'modules/dashboard-identities.bicep' = {
  name: 'dashboard-identities'
  params: {
    sqlReaderName: names.dashboardSqlReader
    signInName: names.dashboardSignIn
    location: location
    tags: allTags
  }
}

// Every setting company_activity.settings reads. STORAGE_CONNECTION_STRING stays unset: in Azure the
// code reaches Blob with its managed identity through STORAGE_ACCOUNT_URL (set exactly one of the two).
var ingestSettings = {
  USAGE_API_BASE_URL: usageApiBaseUrl
  USAGE_API_KEY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${usageApiKeySecretName}/)'
  USAGE_API_PAGE_SIZE: string(usageApiPageSize)
  USAGE_API_TIMEOUT_S: usageApiTimeoutSeconds
  STORAGE_ACCOUNT_URL: storage.outputs.blobEndpoint
  BRONZE_CONTAINER: bronzeContainerName
  INGEST_SCHEDULE: ingestSchedule
  INGEST_TIMEZONE: ingestTimezone
  BACKFILL_QUEUE: backfillQueueName
  BACKFILL_MAX_DAYS: string(backfillMaxDays)
  REJECT_THRESHOLD: rejectThreshold
  BACKFILL_LOAD_ENABLED: backfillLoadEnabled
  DATA_FACTORY_RESOURCE_ID: resourceId('Microsoft.DataFactory/factories', names.dataFactory)
  ARM_ENDPOINT: 'https://management.azure.com' // public cloud: the token's scope is fixed to it
  // The HTTP endpoints verify Entra access tokens for this API and tenant in the app (docs/security.md).
  AUTH_TENANT_ID: subscription().tenantId
  AUTH_API_CLIENT_ID: apiClientId
  AUTH_AUTHORITY: 'https://login.microsoftonline.com' // public cloud, like ARM_ENDPOINT
  // GET /api/dashboard: the rpt views as the dashboard's own identity (rpt_reader only), no password.
  DASHBOARD_SQL_CONNECTION_STRING: 'Server=tcp:${sql.outputs.serverFqdn},1433;Database=${sql.outputs.databaseName};Encrypt=yes;Authentication=ActiveDirectoryMSI;UID=${dashboardIdentities.outputs.sqlReaderClientId}'
  DASHBOARD_ALLOWED_GROUPS: join(dashboardAllowedGroupIds, ',')
  DASHBOARD_ALLOWED_USERS: join(dashboardAllowedUserIds, ',')
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    workspaceId: monitoring.outputs.workspaceId
    ingestSettings: ingestSettings
    dashboardSqlIdentityId: dashboardIdentities.outputs.sqlReaderId
    signInIdentityId: dashboardIdentities.outputs.signInId
    signInIdentityClientId: dashboardIdentities.outputs.signInClientId
    authClientId: dashboardAuthClientId
    allowedGroupIds: dashboardAllowedGroupIds
    allowedUserIds: dashboardAllowedUserIds
    tags: allTags
  }
}

module dataFactory 'modules/data-factory.bicep' = {
  name: 'data-factory'
  params: {
    name: names.dataFactory
    location: location
    blobEndpoint: storage.outputs.blobEndpoint
    bronzeContainerName: bronzeContainerName
    crmContainerName: crmContainerName
    sqlServerFqdn: sql.outputs.serverFqdn
    sqlDatabaseName: sql.outputs.databaseName
    keyVaultUri: keyVault.outputs.uri
    slackWebhookSecretName: slackWebhookSecretName
    triggerStartDate: pipelineStartDate
    workspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    actionGroupName: names.actionGroup
    location: location
    workspaceId: monitoring.outputs.workspaceId
    emailAddresses: alertEmailAddresses
    webhookUrl: alertWebhookUrl
    webhookAppObjectId: alertWebhookAppObjectId
    tags: allTags
  }
}

module roleAssignments 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  params: {
    storageAccountName: storage.outputs.name
    factoryReadContainerNames: [
      bronzeContainerName
      crmContainerName
    ]
    bronzeContainerName: bronzeContainerName
    crmContainerName: crmContainerName
    crmWriterPrincipals: crmWriterPrincipals
    replayReaderPrincipals: replayReaderPrincipals
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    functionPrincipalId: functionApp.outputs.principalId
    factoryPrincipalId: dataFactory.outputs.principalId
  }
}

// The Function App starts and reads backfill runs (and nothing else) on the factory: see the module.
module backfillLoadRole 'modules/backfill-load-role.bicep' = {
  name: 'backfill-load-role'
  params: {
    factoryName: dataFactory.outputs.name
    functionPrincipalId: functionApp.outputs.principalId
  }
}

@description('Resource group that holds the environment.')
output resourceGroupName string = resourceGroup().name

@description('Name of the Function App (func azure functionapp publish <name>).')
output functionAppName string = functionApp.outputs.name

@description('Host name of the Function App, for https://<host>/api/backfill.')
output functionAppHostName string = functionApp.outputs.defaultHostName

@description('The dashboard, for signed-in members of the allowed groups: https://<host>/api/dashboard.')
output dashboardUrl string = functionApp.outputs.dashboardUrl

@description('Name of the identity the dashboard reads Azure SQL with (its database user: infra/sql/grant_dashboard_reader.sql).')
output dashboardSqlIdentityName string = dashboardIdentities.outputs.sqlReaderName

@description('Client id of that identity (the SID of its database user).')
output dashboardSqlIdentityClientId string = dashboardIdentities.outputs.sqlReaderClientId

@description('Object id of the identity App Service authentication signs in with (subject of the app registration\'s federated credential).')
output dashboardSignInPrincipalId string = dashboardIdentities.outputs.signInPrincipalId

@description('Object id of the Function App\'s managed identity.')
output functionAppPrincipalId string = functionApp.outputs.principalId

@description('Name of the storage account (bronze, crm, backfill queue, host storage).')
output storageAccountName string = storage.outputs.name

@description('Blob endpoint of the storage account.')
output storageBlobEndpoint string = storage.outputs.blobEndpoint

@description('Name of the key vault that holds usage-api-key and slack-webhook-url.')
output keyVaultName string = keyVault.outputs.name

@description('URI of the key vault.')
output keyVaultUri string = keyVault.outputs.uri

@description('Name of the SQL logical server.')
output sqlServerName string = sql.outputs.serverName

@description('Fully qualified domain name of the SQL server.')
output sqlServerFqdn string = sql.outputs.serverFqdn

@description('Name of the warehouse database.')
output sqlDatabaseName string = sql.outputs.databaseName

@description('Name of the Data Factory.')
output dataFactoryName string = dataFactory.outputs.name

@description('Object id of the Data Factory\'s managed identity (its SQL user is named after the factory).')
output dataFactoryPrincipalId string = dataFactory.outputs.principalId

@description('Name of the daily trigger, deployed Stopped (the runbook starts it).')
output dataFactoryTriggerName string = dataFactory.outputs.triggerName

@description('Names of the two key vault secrets the runbook sets.')
output keyVaultSecretNames array = [
  usageApiKeySecretName
  slackWebhookSecretName
]

@description('Name of the backfill queue (its poison queue is <name>-poison).')
output backfillQueueName string = backfillQueueName

@description('Name of the Log Analytics workspace that receives every diagnostic setting.')
output logAnalyticsWorkspaceName string = monitoring.outputs.workspaceName

@description('Names of the backstop alert rules (Azure Monitor scheduled-query rules over the workspace).')
output alertRuleNames array = alerts.outputs.ruleNames
