// The Function App's custom role, defined once per resource group by an administrator (Owner or User Access
// Administrator): `infra/deploy.sh --create-role <env>`, or infra/deploy.sh itself when the deployer may. The
// main template only references it (modules/backfill-load-role.bicep), so the identity that deploys, the CI
// service principal included, never needs Microsoft.Authorization/roleDefinitions/write: whoever holds that can
// rewrite a role it may assign into anything (docs/deploy.md, "Who may deploy").
//
// No built-in role is this narrow: "Data Factory Contributor" can create, change and delete the factory and all
// its pipelines, linked services and triggers. This role holds exactly the operations the code calls (resource
// provider operations of Microsoft.DataFactory): pipelines/createrun/action, pipelineruns/read,
// pipelineruns/queryactivityruns/action, and querypipelineruns/action with its result read querypipelineruns/read
// (is a backfill already running? POST /api/backfill answers 409 then). ARM cannot narrow createrun to one
// pipeline or its parameters: no documented role scope below the factory for pipelines, and ABAC conditions do
// not cover Data Factory actions (docs/security.md); both pipelines' concurrency 1 and their own checks bound it.
// Its assignable scope is this resource group; the main template assigns it on the factory only. Its name is the
// same guid the main template looks up. Deploying this again updates the role in place (same name), e.g. after
// an action is added here: infra/deploy.sh's preflight names any action the existing role lacks.
targetScope = 'resourceGroup'

resource backfillStarter 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'company-activity-backfill-starter')
  properties: {
    roleName: 'Company activity backfill starter (${resourceGroup().name})'
    description: 'Start Data Factory pipeline runs, read and query pipeline and activity runs; nothing else.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.DataFactory/factories/pipelines/createrun/action'
          'Microsoft.DataFactory/factories/pipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action'
          'Microsoft.DataFactory/factories/querypipelineruns/action'
          'Microsoft.DataFactory/factories/querypipelineruns/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

@description('Resource id of the custom role definition.')
output roleDefinitionId string = backfillStarter.id
