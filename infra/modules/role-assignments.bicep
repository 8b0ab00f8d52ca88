// Every role assignment of the bundle, in one place, least privilege: the Function App's and the Data Factory's
// system-assigned identities, and the principals the environment names for the CRM feed (who writes the nightly
// CRM export, who replays from bronze and crm; docs/crm.md). Data-plane roles only, each on the narrowest scope;
// nobody gets a control-plane role (the runbook grants the deployer Key Vault Secrets Officer on the vault,
// outside the template, to set the two secrets).

@description('Required. Name of the storage account (data lake and Functions host storage).')
param storageAccountName string

@description('Required. Blob containers Data Factory reads (bronze, crm).')
param factoryReadContainerNames array

@description('Required. Blob container of the bronze layer (replay readers read it).')
param bronzeContainerName string

@description('Required. Blob container of the CRM exports (the CRM writers write it, replay readers read it).')
param crmContainerName string

@description('Optional. Who delivers the nightly CRM export, each as \'<principal type>:<object id>\' (type User, Group or ServicePrincipal): Storage Blob Data Contributor on the crm container only.')
param crmWriterPrincipals array = []

@description('Optional. Who replays the transformation from bronze and crm, each as \'<principal type>:<object id>\': Storage Blob Data Reader on those two containers only.')
param replayReaderPrincipals array = []

@description('Required. Name of the key vault.')
param keyVaultName string

@description('Required. Name of the Application Insights component.')
param appInsightsName string

@description('Required. Object id of the Function App\'s system-assigned identity.')
param functionPrincipalId string

@description('Required. Object id of the Data Factory\'s system-assigned identity.')
param factoryPrincipalId string

// Built-in role definition ids (the same in every tenant).
// Storage Blob Data Owner: the Functions host creates its own containers and leases blobs for the
// timer, and writes the deployment package; identity-based AzureWebJobsStorage requires Owner.
var storageBlobDataOwner = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
// Storage Queue Data Contributor: the backfill endpoint enqueues, the worker dequeues and deletes,
// and the host moves failed messages to <queue>-poison (Message Sender/Processor alone cannot do all).
var storageQueueDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
// Storage Table Data Contributor: with identity-based AzureWebJobsStorage the Functions host writes its
// diagnostic events to Table storage (the official Flex Consumption sample grants the same role).
var storageTableDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
// Storage Blob Data Reader: Data Factory copies bronze usage files and CRM snapshots to staging.
var storageBlobDataReader = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1')
// Storage Blob Data Contributor: the CRM export job writes (and replaces) the nightly snapshot in the crm container.
var storageBlobDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
// Key Vault Secrets User: read secret values (the Function App's Key Vault reference, Data Factory's
// Key Vault linked service).
var keyVaultSecretsUser = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
// Monitoring Metrics Publisher: send telemetry to Application Insights with Entra authentication
// (local auth is disabled on the component).
var monitoringMetricsPublisher = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource factoryReadContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for containerName in factoryReadContainerNames: {
  parent: blobService
  name: containerName
}]

resource bronzeContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: bronzeContainerName
}

resource crmContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: crmContainerName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: storageBlobDataOwner
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: storageQueueDataContributor
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: storageTableDataContributor
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: keyVaultSecretsUser
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: monitoringMetricsPublisher
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Scoped to the two containers, not the account: the account also holds the Functions host's
// containers (function keys) and the deployment package, which Data Factory has no business reading.
resource factoryBlobReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (containerName, i) in factoryReadContainerNames: {
  name: guid(factoryReadContainers[i].id, factoryPrincipalId, storageBlobDataReader)
  scope: factoryReadContainers[i]
  properties: {
    roleDefinitionId: storageBlobDataReader
    principalId: factoryPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource factorySecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, factoryPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: keyVaultSecretsUser
    principalId: factoryPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The CRM feed (docs/crm.md). Principals come as '<type>:<object id>': a person, a group or the export job's
// service principal; each on its container only, never on the account (which also holds the Functions host's
// containers and the deployment package).
resource crmWriters 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for writer in crmWriterPrincipals: {
  name: guid(crmContainer.id, split(writer, ':')[1], storageBlobDataContributor)
  scope: crmContainer
  properties: {
    roleDefinitionId: storageBlobDataContributor
    principalId: split(writer, ':')[1]
    principalType: split(writer, ':')[0]
  }
}]

resource replayBronzeReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for reader in replayReaderPrincipals: {
  name: guid(bronzeContainer.id, split(reader, ':')[1], storageBlobDataReader)
  scope: bronzeContainer
  properties: {
    roleDefinitionId: storageBlobDataReader
    principalId: split(reader, ':')[1]
    principalType: split(reader, ':')[0]
  }
}]

resource replayCrmReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for reader in replayReaderPrincipals: {
  name: guid(crmContainer.id, split(reader, ':')[1], storageBlobDataReader)
  scope: crmContainer
  properties: {
    roleDefinitionId: storageBlobDataReader
    principalId: split(reader, ':')[1]
    principalType: split(reader, ':')[0]
  }
}]
